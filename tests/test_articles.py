"""Reading articles: formats, titles, languages and the files that are skipped."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from retrieval.articles import ArticleSkipped, iter_articles, normalise_text, read_article, scan_folder
from retrieval.errors import ArticlesDirError

from data_paths import SEEDS

LIMIT = 1_000_000


def _read(folder: Path, name: str):  # type: ignore[no-untyped-def]
    files, _ = scan_folder(folder, LIMIT)
    return read_article(next(f for f in files if f.source_id == name), LIMIT)


def test_seed_titles_and_languages() -> None:
    articles = {a.source_id: a for a in iter_articles(SEEDS, LIMIT) if not isinstance(a, tuple)}
    assert len(articles) == 4
    assert articles["001_4b0b25bb2bafa5d9.txt"].title.startswith("Hundreds Of Musicians Pledge")
    assert articles["001_4b0b25bb2bafa5d9.txt"].language == "en"
    assert articles["000_44bf25875507660d.txt"].language == "fr"
    assert articles["002_5a2e0eb1296bfe3d.txt"].language == "fr"
    # No headline line: the lede, cut short.
    lede = articles["000_44bf25875507660d.txt"].title
    assert lede.startswith("Dans sa lutte continue") and lede.endswith("…") and len(lede) <= 81


def test_markdown_front_matter_gives_title_and_url(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "---\ntitle: Festival boycott\nurl: https://example.org/a\n---\n"
        "# Heading\n\nBody text about a boycott.\n",
        encoding="utf-8",
    )
    article = _read(tmp_path, "a.md")
    assert article.title == "Festival boycott"
    assert article.url == "https://example.org/a"
    assert article.citation_source == "https://example.org/a"
    assert "title:" not in article.text


def test_markdown_is_read_as_the_words_a_reader_sees(tmp_path: Path) -> None:
    (tmp_path / "keepers.md").write_text(
        "# Lighthouse keepers strike #\n\n"
        "The **union** of *keepers* said [in a letter](https://x.org/a) that it wants `3` weeks.\n\n"
        "> We will not climb the towers alone.\n\n![The Ar-Men light](ar-men.jpg)\n\n"
        "- a 2*3 rota and snake_case_names stay as they are\n",
        encoding="utf-8",
    )
    article = _read(tmp_path, "keepers.md")
    assert article.title == "Lighthouse keepers strike"
    assert "The union of keepers said in a letter that it wants 3 weeks." in article.text
    assert "We will not climb the towers alone." in article.text and "The Ar-Men light" in article.text
    assert "2*3 rota and snake_case_names" in article.text
    assert not any(mark in article.text for mark in ("#", "**", "](", "> ", "`"))


def test_a_rule_above_the_text_is_not_front_matter(tmp_path: Path) -> None:
    (tmp_path / "harbour.md").write_text(
        "---\n# Harbour dredging resumes\n\nThe port authority said dredging resumes on Monday.\n\n---\n\n"
        "More text here.\n",
        encoding="utf-8",
    )
    article = _read(tmp_path, "harbour.md")
    assert article.title == "Harbour dredging resumes"
    assert article.text == (
        "Harbour dredging resumes\n\nThe port authority said dredging resumes on Monday.\n\nMore text here."
    )


def test_sidecar_metadata_wins(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text(
        "Some first line that is a headline\n\nBody of the story here.", encoding="utf-8"
    )
    (tmp_path / "b.txt.meta.json").write_text(json.dumps({"title": "From the sidecar"}), encoding="utf-8")
    assert _read(tmp_path, "b.txt").title == "From the sidecar"


def test_html_main_text_without_page_furniture(tmp_path: Path) -> None:
    paragraph = "Les employés d'Amazon ont publié une lettre ouverte contre la reconnaissance faciale. " * 3
    (tmp_path / "c.html").write_text(
        "<html><head><title>Lettre des employés</title></head><body>"
        "<nav><a href='/'>Accueil</a> | <a href='/abo'>Abonnez-vous</a></nav>"
        f"<article><h1>Lettre des employés</h1><p>{paragraph}</p><p>{paragraph}</p></article>"
        "<footer>Tous droits réservés — Mentions légales</footer></body></html>",
        encoding="utf-8",
    )
    article = _read(tmp_path, "c.html")
    assert article.title == "Lettre des employés"
    assert "reconnaissance faciale" in article.text
    assert "Abonnez-vous" not in article.text and "Mentions légales" not in article.text
    assert article.language == "fr"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b"   \n\n \t\n", "empty"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
        ("sjis.txt", "東京の新しいニュースです。今日は晴れです。".encode("shift_jis"), "UTF-8"),
        ("koi8.txt", "Новости дня: сегодня солнечно и тепло.".encode("koi8_r"), "UTF-8"),
        ("noise16.txt", b"\xff\xfe" + bytes(range(256)) * 8, "not valid UTF-16"),
        ("private16.txt", b"\xff\xfe" + "A\ue000\U000f0000\u0378".encode("utf-16-le") * 200, "binary"),
        ("nothing.html", b"<html><body><script>var a = 1;</script></body></html>", "HTML"),
    ],
)
def test_bad_files_are_skipped_with_a_reason(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    (tmp_path / name).write_bytes(content)
    (tmp_path / "good.txt").write_text("A good article.\n\nWith a body.", encoding="utf-8")
    results = list(iter_articles(tmp_path, LIMIT))
    skipped = dict(r for r in results if isinstance(r, tuple))
    assert reason in skipped[name]
    assert [a.source_id for a in results if not isinstance(a, tuple)] == ["good.txt"]


@pytest.mark.parametrize("markup", [b"<", b"<html></html>", b"<p>", b"   <!-- x -->"])
def test_broken_html_is_skipped_with_our_reason_alone(
    tmp_path: Path, markup: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "broken.html").write_bytes(markup)
    with caplog.at_level("DEBUG"):
        skipped = dict(r for r in iter_articles(tmp_path, LIMIT) if isinstance(r, tuple))
    assert skipped == {"broken.html": "HTML holds no main text"}
    # The HTML library's own complaints ("discarding data: None") would only repeat it.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("mark", ["", "\ufeff"])
def test_utf8_is_read_with_or_without_a_byte_order_mark(
    tmp_path: Path, mark: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a.txt").write_bytes(f"{mark}Grève à la SNCF\n\nLes cheminots ont voté.".encode())
    with caplog.at_level("WARNING", logger="retrieval.articles"):
        assert _read(tmp_path, "a.txt").title == "Grève à la SNCF"
    assert caplog.text == ""


def test_windows_encodings_of_french_text_are_read_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = "Grève à la SNCF\n\nLes cheminots ont voté « trois jours » de grève, dit l’intersyndicale."
    (tmp_path / "cp1252.txt").write_bytes(text.encode("cp1252"))
    (tmp_path / "notepad.txt").write_bytes(text.encode("utf-16"))  # "Unicode" in Notepad: a BOM, then LE
    (tmp_path / "pasted.txt").write_bytes(text.encode("utf-8") + b" L\x92usine ferme.")
    with caplog.at_level("WARNING", logger="retrieval.articles"):
        for name in ("cp1252.txt", "notepad.txt"):
            article = _read(tmp_path, name)
            assert (article.title, article.text.split("\n\n")[1]) == (
                text.split("\n\n")[0],
                text.split("\n\n")[1],
            )
        assert _read(tmp_path, "pasted.txt").text.endswith("intersyndicale. L’usine ferme.")
        # As many stray bytes as UTF-8 characters: still UTF-8 ("Café", never "CafÃ©").
        (tmp_path / "even.txt").write_bytes("Café and ".encode() + "naïve\n".encode("latin-1"))
        assert _read(tmp_path, "even.txt").text == "Café and naïve"
    assert "cp1252.txt is not UTF-8: read as Windows-1252" in caplog.text
    assert "pasted.txt: 1 byte is not UTF-8: read as Windows-1252" in caplog.text
    assert "notepad.txt" not in caplog.text  # UTF-16 with its mark is not a guess


def test_oversized_and_unsupported_files_are_skipped_before_reading(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("word " * 1000, encoding="utf-8")
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / ".hidden.txt").write_text("secret", encoding="utf-8")
    files, skipped = scan_folder(tmp_path, max_bytes=1000)
    assert files == []
    assert "too large" in skipped["big.txt"]
    assert "unsupported" in skipped["report.pdf"]
    assert ".hidden.txt" not in skipped


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArticlesDirError, match="not found"):
        scan_folder(tmp_path / "nope", LIMIT)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ArticlesDirError, match="not a folder"):
        scan_folder(tmp_path / "file.txt", LIMIT)


def test_normalise_joins_hard_wrapped_lines_but_keeps_line_paragraphs() -> None:
    wrapped = (
        "The protest broke out at the summit in New York last week, where\n"
        "a group of tech workers interrupted the keynote to demand that\n"
        "the company cut its ties with the agency and its contractors.\n"
    )
    assert normalise_text(wrapped).count("\n") == 0
    lines = "First short paragraph.\nSecond short paragraph.\nThird one."
    assert normalise_text(lines).count("\n\n") == 2


def test_read_article_rejects_files_grown_past_the_limit(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("small", encoding="utf-8")
    files, _ = scan_folder(tmp_path, LIMIT)
    (tmp_path / "a.txt").write_text("x" * 5000, encoding="utf-8")
    with pytest.raises(ArticleSkipped, match="too large"):
        read_article(files[0], max_bytes=1000)
