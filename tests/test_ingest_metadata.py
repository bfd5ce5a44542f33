"""Article metadata: the date, byline, outlet and link from HTML, front matter and sidecars."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from retrieval.articles import read_article, scan_folder
from retrieval.metadata import (
    ArticleMetadata,
    clean_author,
    date_timestamp,
    html_metadata,
    metadata_from_mapping,
    normalise_date,
)
from retrieval.models import Article

LIMIT = 1_000_000
BODY = "<p>" + "The council voted on Tuesday to close the old bridge to cars for good. " * 6 + "</p>"


def _read(folder: Path, name: str) -> Article:
    files, _ = scan_folder(folder, LIMIT)
    return read_article(next(f for f in files if f.source_id == name), LIMIT)


def _page(head: str = "", body: str = BODY, before: str = "") -> str:
    head = f"<head><title>Bridge closes</title>{head}</head>"
    return f"<html>{head}<body>{before}<article>{body}</article></body></html>"


# --- dates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020-02-12", "2020-02-12"),
        ("2020/2/3", "2020-02-03"),
        ("20200212", "2020-02-12"),
        ("2020-02-12T09:30:00Z", "2020-02-12T09:30:00+00:00"),
        ("2020-02-12T09:30:00.123+0100", "2020-02-12T09:30:00+01:00"),
        ("2020-02-12 09:30", "2020-02-12T09:30:00+00:00"),  # no offset: UTC
        ("Wed, 12 Feb 2020 09:30:00 +0100", "2020-02-12T09:30:00+01:00"),  # RSS
        (date(2020, 3, 2), "2020-03-02"),  # YAML front matter
        (datetime(2020, 3, 2, 10, 0), "2020-03-02T10:00:00+00:00"),
        ("yesterday-ish", None),
        ("2020-13-45", None),
        ("0001-01-01", None),
        ("2999-01-01", None),
        (20200212, None),
        ("2020-02-12 " + "9" * 100, None),
    ],
)
def test_dates_are_normalised_or_refused(value: object, expected: str | None) -> None:
    assert normalise_date(value, now=datetime(2026, 1, 1, tzinfo=UTC)) == expected


def test_date_as_a_number_for_filters() -> None:
    assert date_timestamp("1970-01-02") == 86400
    assert date_timestamp("1970-01-01T01:00:00+01:00") == 0
    assert date_timestamp(None) is None and date_timestamp("nonsense") is None
    article = Article("a.txt", "t", "x", "en", "0", published="2020-02-12")
    assert article.published_timestamp == int(datetime(2020, 2, 12, tzinfo=UTC).timestamp())
    assert Article("a.txt", "t", "x", "en", "0").published_timestamp is None


def test_bylines_from_strings_lists_and_objects() -> None:
    assert clean_author("Jane Doe") == "Jane Doe"
    assert clean_author(["Ann Lee", "Bo Chen"]) == "Ann Lee, Bo Chen"
    assert clean_author([{"@type": "Person", "name": "Ann Lee"}, {"name": "Bo Chen"}]) == "Ann Lee, Bo Chen"
    assert clean_author("Ann Lee; Bo Chen") == "Ann Lee, Bo Chen"
    assert clean_author("jane@example.org (Jane Doe)") == "Jane Doe"
    assert clean_author(["Jane Doe", "jane doe"]) == "Jane Doe"
    assert clean_author("By Jane Doe") == "Jane Doe"
    assert clean_author("jane@example.org") is None
    assert clean_author("https://facebook.com/jane") is None
    assert clean_author(42) is None and clean_author({"name": 3}) is None
    assert len(clean_author("Name " * 500) or "") <= 200


# --- HTML ------------------------------------------------------------------------------


def test_published_time_meta_tag_keeps_its_offset() -> None:
    meta = html_metadata(
        _page('<meta property="article:published_time" content="2020-02-12T09:30:00+01:00">')
    )
    assert meta.published == "2020-02-12T09:30:00+01:00"


def test_published_wins_over_modified() -> None:
    head = '<meta property="article:modified_time" content="2021-06-01">'
    meta = html_metadata(_page(head, before='<time datetime="2019-11-05" pubdate>5 Nov</time>'))
    assert meta.published == "2019-11-05"


def test_time_element() -> None:
    page = _page(body='<p>By the desk</p><time datetime="2019-11-05T08:00:00Z">5 November</time>' + BODY)
    assert html_metadata(page).published == "2019-11-05T08:00:00+00:00"


def test_json_ld_date_authors_and_publisher() -> None:
    data = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "name": "ignored"},
            {
                "@type": "NewsArticle",
                "headline": "Bridge closes",
                "datePublished": "2018-07-01T10:00:00-04:00",
                "dateModified": "2018-07-03",
                "author": [{"@type": "Person", "name": "Ann Lee"}, {"@type": "Person", "name": "Bo Chen"}],
                "publisher": {"@type": "Organization", "name": "Daily Planet"},
            },
        ],
    }
    meta = html_metadata(_page(f'<script type="application/ld+json">{json.dumps(data)}</script>'))
    assert meta.published == "2018-07-01T10:00:00-04:00"
    assert meta.author == "Ann Lee, Bo Chen"
    assert meta.site == "Daily Planet"


def test_broken_json_ld_is_ignored() -> None:
    meta = html_metadata(_page('<script type="application/ld+json">{"@type": "NewsArticle", </script>'))
    assert meta.published is None and meta.title == "Bridge closes"


def test_site_name_and_author_meta() -> None:
    head = '<meta property="og:site_name" content="Le Monde"><meta name="author" content="Jeanne Dupont">'
    meta = html_metadata(_page(head))
    assert meta.site == "Le Monde" and meta.author == "Jeanne Dupont"


def test_byline_in_the_page() -> None:
    byline = '<h1>Bridge closes</h1><p class="byline">By <span class="author">John Smith</span></p>'
    assert html_metadata(_page(body=byline + BODY)).author == "John Smith"


def test_canonical_link_absolute_or_relative() -> None:
    head = '<link rel="canonical" href="/news/bridge-closes">'
    meta = html_metadata(_page(head), url="https://example.org/news/bridge-closes?utm_source=rss")
    assert meta.url == "https://example.org/news/bridge-closes"
    head = '<meta property="og:url" content="https://example.org/og"><link rel="canonical" href="https://example.org/c">'
    assert html_metadata(_page(head)).url == "https://example.org/c"
    assert html_metadata(_page('<link rel="canonical" href="javascript:alert(1)">')).url is None


def test_no_date_is_invented_from_the_address_the_text_or_the_copyright() -> None:
    body = "<p>" + "On 12 March 2015 the mayor first spoke about the bridge. " * 5 + "</p>"
    page = _page(body=body, before="<footer>© 2023 Gazette</footer>")
    assert html_metadata(page, url="https://example.org/2019/05/03/bridge.html").published is None


def test_today_is_only_a_date_when_the_page_says_so() -> None:
    today = date(2026, 11, 29)
    inferred = _page(body=f'<p class="date">{today:%d.%m.%Y}</p>' + BODY)
    assert html_metadata(inferred, today=today).published is None
    stated = _page(f'<meta property="article:published_time" content="{today.isoformat()}">')
    assert html_metadata(stated, today=today).published == today.isoformat()


def test_clutter_is_left_out_and_metadata_kept(tmp_path: Path) -> None:
    paragraph = "Les employés d'Amazon ont publié une lettre ouverte contre la reconnaissance faciale. " * 3
    (tmp_path / "c.html").write_text(
        "<html><head><title>Lettre des employés | Le Quotidien</title>"
        '<meta property="og:site_name" content="Le Quotidien">'
        '<meta property="article:published_time" content="2019-05-23T07:00:00+02:00">'
        '<meta name="author" content="Claire Martin">'
        '<link rel="canonical" href="https://quotidien.example/lettre">'
        "<script>var tracker = 'Abonnez-vous maintenant';</script><style>.x{color:red}</style></head><body>"
        "<nav><a href='/'>Accueil</a> | <a href='/abo'>Abonnez-vous</a></nav>"
        "<aside>Les plus lus : dix recettes</aside>"
        f"<article><h1>Lettre des employés</h1><p>{paragraph}</p><p>{paragraph}</p></article>"
        "<footer>Tous droits réservés — Mentions légales</footer></body></html>",
        encoding="utf-8",
    )
    article = _read(tmp_path, "c.html")
    assert "reconnaissance faciale" in article.text
    for clutter in ("Abonnez-vous", "Mentions légales", "tracker", "color:red", "recettes"):
        assert clutter not in article.text
    assert article.published == "2019-05-23T07:00:00+02:00"
    assert article.author == "Claire Martin"
    assert article.site == "Le Quotidien"
    assert article.url == "https://quotidien.example/lettre"


# --- front matter and sidecars ---------------------------------------------------------


def test_front_matter_keys(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "---\ntitle: Bridge closes\ndate: 2020-03-02\nauthor: [Ann Lee, Bo Chen]\n"
        "url: https://example.org/a\nsite: The Gazette\n---\nThe council voted to close the bridge.\n",
        encoding="utf-8",
    )
    article = _read(tmp_path, "a.md")
    assert (article.title, article.published, article.author, article.site, article.url) == (
        "Bridge closes",
        "2020-03-02",
        "Ann Lee, Bo Chen",
        "The Gazette",
        "https://example.org/a",
    )


def test_front_matter_published_key_and_datetime(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "---\npublished: 2020-03-02T10:00:00+02:00\nauthor: Ann Lee\n---\nBody of the story.\n",
        encoding="utf-8",
    )
    assert _read(tmp_path, "a.md").published == "2020-03-02T10:00:00+02:00"


@pytest.mark.parametrize("date", ["2023-02-30", "2023-13-01"])
def test_an_impossible_date_in_front_matter_drops_that_date_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, date: str
) -> None:
    (tmp_path / "a.md").write_text(
        f"---\ntitle: Mayor Opens Skate Park\ndate: {date}\nurl: https://x.org/a\n---\n"
        "The mayor opened a new skate park on Saturday.\n",
        encoding="utf-8",
    )
    article = _read(tmp_path, "a.md")
    assert (article.title, article.url, article.published) == (
        "Mayor Opens Skate Park",
        "https://x.org/a",
        None,
    )
    assert article.text.strip() == "The mayor opened a new skate park on Saturday."
    assert any("a.md" in r.getMessage() and date in r.getMessage() for r in caplog.records)


def test_front_matter_that_is_not_yaml_is_named_and_never_read_as_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a.md").write_text(
        "---\ntitle: [unclosed\n---\nThe mayor opened a new skate park.\n", encoding="utf-8"
    )
    (tmp_path / "b.md").write_text("---\ntitle: Never closed\nThe mayor opened a park.\n", encoding="utf-8")
    broken, unclosed = _read(tmp_path, "a.md"), _read(tmp_path, "b.md")
    assert broken.text.strip() == "The mayor opened a new skate park." and "unclosed" not in broken.title
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("a.md: front matter ignored (not YAML") and "\n" not in m for m in messages)
    assert any(m.startswith("b.md: front matter never closed") for m in messages)
    assert "title: Never closed" in unclosed.text  # kept as text: nothing is lost


def test_sidecar_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "---\npublished: 2020-03-02\nauthor: Ann Lee\nsite: Front Site\n---\nBody of the story.\n",
        encoding="utf-8",
    )
    sidecar = {"date": "2021-01-05", "author": ["Bo Chen"], "language": "fr", "title": "From the sidecar"}
    (tmp_path / "a.md.meta.json").write_text(json.dumps(sidecar), encoding="utf-8")
    article = _read(tmp_path, "a.md")
    assert article.published == "2021-01-05"
    assert article.author == "Bo Chen"
    assert article.site == "Front Site"  # not in the sidecar: the file's value stays
    assert article.language == "fr" and article.title == "From the sidecar"


def test_sidecar_gives_html_and_text_articles_their_metadata(tmp_path: Path) -> None:
    (tmp_path / "p.html").write_text(
        _page('<meta property="og:site_name" content="Page Site">'), encoding="utf-8"
    )
    (tmp_path / "p.html.meta.json").write_text(
        json.dumps({"site": "Sidecar Site", "published": "2020-01-01"})
    )
    (tmp_path / "t.txt").write_text("Bridge closes\n\nThe council voted.", encoding="utf-8")
    (tmp_path / "t.txt.meta.json").write_text(
        json.dumps({"url": "https://example.org/t", "author": "Ann Lee"})
    )
    html, text = _read(tmp_path, "p.html"), _read(tmp_path, "t.txt")
    assert (html.site, html.published) == ("Sidecar Site", "2020-01-01")
    assert (text.url, text.author, text.site, text.published) == (
        "https://example.org/t",
        "Ann Lee",
        None,
        None,
    )


def test_bad_metadata_is_dropped_with_a_log_line_never_the_article(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a.md").write_text(
        "---\ndate: next tuesday\nauthor: 42\nurl: javascript:alert(1)\nlanguage: [fr]\n"
        f"site: {'Gazette ' * 200}\ntitle: {{nested: map}}\n---\nThe council voted to close the bridge.\n",
        encoding="utf-8",
    )
    (tmp_path / "b.txt").write_text("Body.", encoding="utf-8")
    (tmp_path / "b.txt.meta.json").write_text(json.dumps({"published": {"y": 2020}, "author": "x" * 100_000}))
    with caplog.at_level(logging.WARNING, logger="retrieval.metadata"):
        a, b = _read(tmp_path, "a.md"), _read(tmp_path, "b.txt")
    assert (a.published, a.author, a.url) == (None, None, None)
    assert a.language == "en" and a.title.startswith("The council voted")
    assert a.site is not None and len(a.site) <= 100 and a.site.endswith("…")
    assert b.published is None and b.author is not None and len(b.author) <= 200
    logged = caplog.text
    for key in (
        "date ignored",
        "author ignored",
        "url ignored",
        "language ignored",
        "title ignored",
        "published ignored",
    ):
        assert key in logged


def test_metadata_merging_and_json() -> None:
    base = ArticleMetadata(title="A", site="S", published="2020-01-01")
    merged = base.overridden_by(ArticleMetadata(title="B", author="C"))
    assert merged.to_json() == {"title": "B", "site": "S", "published": "2020-01-01", "author": "C"}
    assert metadata_from_mapping(
        {"authors": ["X"], "sitename": "Y", "source_url": "http://e.org"}, "t"
    ).to_json() == {
        "author": "X",
        "site": "Y",
        "url": "http://e.org",
    }


@pytest.mark.parametrize(
    ("byline", "expected"),
    [
        ("Rédaction <a href='/desk'>Le Monde</a>", "Rédaction Le Monde"),  # markup in a feed's byline
        ("noreply@blogger.com (Unknown)", None),  # a blog's empty signature
        (["Ann Lee", "Anonymous"], "Ann Lee"),
        ("By Jean &amp; Marie Dupont", "Jean & Marie Dupont"),
    ],
)
def test_bylines_are_names_without_markup_or_placeholders(byline: object, expected: str | None) -> None:
    assert clean_author(byline) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("mardi 1er décembre 2026 à 14h00", "2026-12-01"),  # a French CMS's pubDate
        ("jeu., 01 janv. 2026 10:00:00 +0100", "2026-01-01"),  # its abbreviations
        ("mar. 3 févr. 2026", "2026-02-03"),
        ("12 juill. 2026", "2026-07-12"),
        ("1 December 2025", "2025-12-01"),
        ("Dec 1, 2025", "2025-12-01"),
        ("31 février 2026", None),
        ("next tuesday", None),
    ],
)
def test_dates_written_in_words_give_their_day(written: str, expected: str | None) -> None:
    assert normalise_date(written, now=datetime(2026, 12, 7, tzinfo=UTC)) == expected
