"""`citebot feeds` end to end: add, list, poll into a library, remove; against a site on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import citebot
from citebot import main
from config import load_settings
from retrieval.embedding import Embedder
from retrieval.layout import DataFolder, feeds_collection
from retrieval.service import Retriever

from local_web import LocalSite, SiteThread, news_page, rss_feed

QUESTION = "How many bats did the Ardèche cave census count?"


@pytest.fixture
def site() -> Iterator[LocalSite]:
    served = SiteThread()
    yield served.start()
    served.stop()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, embedder: Embedder) -> Path:
    """A writer on an articles folder of its own; downloads allowed from 127.0.0.1 only."""
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "ferries.txt").write_text(
        "Ferry strike in Marseille\n\nThe ferry crews of Marseille struck for a second day.\n",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    monkeypatch.setenv("CITEBOT_ARTICLES_DIR", str(articles))
    monkeypatch.setenv("CITEBOT_DATA_DIR", str(data))
    monkeypatch.setenv("CITEBOT_URL_ALLOWLIST", "127.0.0.1")
    monkeypatch.setattr(citebot, "_retriever", lambda settings: Retriever(settings, embedder=embedder))
    return articles


def serve_news(site: LocalSite) -> str:
    """Two articles and the RSS feed that lists them; the feed's address."""
    for slug, title, count, day, author in (
        ("bats-2024", "Bat census in the Ardèche caves", "12,400", "2024-02-12T07:30:00+01:00", "Léa Martin"),
        ("bats-2025", "Fewer bats in the Ardèche caves", "9,800", "2025-02-10T08:00:00+01:00", "Tom Vidal"),
    ):
        lede = (
            f"Volunteers counted {count} bats hibernating in the limestone caves of the Ardèche gorges, "
            "the regional nature park said on Monday after its winter census."
        )
        method = (
            "The census is taken every February, when the colonies hang still and can be counted "
            "from photographs without waking them."
        )
        paragraphs = [lede, method]
        site.page(
            f"/news/{slug}",
            news_page(title, paragraphs, published=day, author=author, site_name="Gorges Daily"),
        )
    items = [
        {
            "title": "Fewer bats in the Ardèche caves",
            "link": site.url("/news/bats-2025"),
            "guid": "bats-2025",
        },
        {
            "title": "Bat census in the Ardèche caves",
            "link": site.url("/news/bats-2024"),
            "guid": "bats-2024",
        },
    ]
    site.page("/feed.xml", rss_feed("Gorges Daily", items), "application/rss+xml")
    return site.url("/feed.xml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stored_subscriptions(data: Path) -> int:
    retriever = Retriever(load_settings(data_dir=data))
    collection = retriever.chroma.existing(feeds_collection("citebot"))
    return 0 if collection is None else int(collection.count())


def test_add_list_poll_ask_poll_again_remove(
    env: Path, site: LocalSite, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = serve_news(site)
    code, out, _ = run(capsys, "feeds", "add", feed)
    assert code == 0 and "Gorges Daily" in out and "2 items" in out
    code, out, _ = run(capsys, "feeds", "list", "--json")
    [listed] = json.loads(out)
    assert listed["url"] == feed and listed["title"] == "Gorges Daily" and listed["library"] == "base"
    # Kept in the store with everything else (each command is a new process's retriever).
    assert (
        stored_subscriptions(env.parent / "data") == 1 and not (env.parent / "data" / "feeds.json").exists()
    )

    code, out, _ = run(capsys, "feeds", "poll", "--json")
    report = json.loads(out)
    assert code == 0 and report["errors"] == []
    assert report["feeds"] == [{"url": feed, "title": "Gorges Daily", "new": 2, "error": None}]
    assert sorted(report["added"]) == ["127-0-0-1-bats-2024.html", "127-0-0-1-bats-2025.html"]
    assert all((env / name).exists() and (env / f"{name}.meta.json").exists() for name in report["added"])

    code, out, _ = run(capsys, "ask", QUESTION, "--json")
    cited = [p for p in json.loads(out)["passages"] if p["site"] == "Gorges Daily"]
    assert {p["url"] for p in cited} == {site.url("/news/bats-2024"), site.url("/news/bats-2025")}
    newest = next(p for p in cited if p["url"].endswith("bats-2025"))
    assert newest["published"] == "2025-02-10T08:00:00+01:00" and newest["author"] == "Tom Vidal"
    code, out, _ = run(capsys, "ask", QUESTION, "--since", "2025-01-01", "--json")
    assert {p["url"] for p in json.loads(out)["passages"]} == {site.url("/news/bats-2025")}

    code, out, _ = run(capsys, "feeds", "poll", "--force", "--json")
    again = json.loads(out)
    assert again["added"] == [] and again["feeds"][0]["new"] == 0 and again["errors"] == []
    code, out, _ = run(capsys, "feeds", "poll")
    assert code == 0 and "No feed of base is due" in out

    code, out, _ = run(capsys, "feeds", "remove", feed + "?utm_source=x")
    assert code == 0 and "Unsubscribed base from Gorges Daily" in out
    assert json.loads(run(capsys, "feeds", "list", "--json")[1]) == []
    assert (env / "127-0-0-1-bats-2024.html").exists(), "the articles stay"
    code, _, err = run(capsys, "feeds", "remove", feed)
    assert code == 1 and err.startswith("citebot: error: no feed") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("path", "body", "content_type", "message"),
    [
        ("/missing.xml", None, "", "HTTP 404"),
        (
            "/page.html",
            "<!doctype html><html><body><p>Just a page.</p></body></html>",
            "text/html",
            "not a feed",
        ),
        (
            "/broken.xml",
            "<?xml version='1.0'?><rss><channel><title>x</titl",
            "application/rss+xml",
            "well-formed",
        ),
    ],
)
def test_what_is_not_a_feed_exits_1_in_one_line_and_nothing_is_saved(
    env: Path,
    site: LocalSite,
    capsys: pytest.CaptureFixture[str],
    path: str,
    body: str | None,
    content_type: str,
    message: str,
) -> None:
    if body is not None:
        site.page(path, body, content_type)
    code, out, err = run(capsys, "feeds", "add", site.url(path))
    assert code == 1 and out == ""
    assert err.startswith("citebot: error: ") and err.count("\n") == 1 and message in err
    assert json.loads(run(capsys, "feeds", "list", "--json")[1]) == []
    assert stored_subscriptions(DataFolder(env.parent / "data").root) == 0


def test_a_library_has_its_own_feeds_folder_and_index(
    env: Path, site: LocalSite, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = serve_news(site)
    assert run(capsys, "feeds", "add", feed, "--library", "caving")[0] == 0
    assert json.loads(run(capsys, "feeds", "list", "--json")[1]) == [], "the base library has no feed"
    code, out, _ = run(capsys, "feeds", "poll", "--library", "caving", "--json")
    assert code == 0 and len(json.loads(out)["added"]) == 2
    folder = DataFolder(env.parent / "data").library_articles("caving")
    assert len([p for p in folder.iterdir() if not p.name.endswith(".meta.json")]) == 2
    assert not any(p.name.startswith("127-0-0-1") for p in env.iterdir())
    in_library = json.loads(run(capsys, "ask", QUESTION, "--library", "caving", "--json")[1])
    assert any(p["site"] == "Gorges Daily" for p in in_library["passages"])
    in_base = json.loads(run(capsys, "ask", QUESTION, "--json")[1])
    assert not any(p["site"] == "Gorges Daily" for p in in_base["passages"])


def test_a_read_only_process_lists_feeds_and_refuses_the_rest(
    env: Path, site: LocalSite, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = serve_news(site)
    assert run(capsys, "feeds", "add", feed)[0] == 0
    monkeypatch.setenv("CITEBOT_READ_ONLY", "true")
    assert json.loads(run(capsys, "feeds", "list", "--json")[1])[0]["url"] == feed
    for argv in (("feeds", "add", site.url("/other.xml")), ("feeds", "remove", feed), ("feeds", "poll")):
        code, out, err = run(capsys, *argv)
        assert code == 1 and out == "" and err.count("\n") == 1
        assert "read-only" in err and "where the writer runs" in err
    assert site.count("/other.xml") == 0 and site.count("/news/bats-2024") == 0


def test_a_feed_that_fails_is_reported_and_waits_longer(
    env: Path, site: LocalSite, capsys: pytest.CaptureFixture[str]
) -> None:
    site.page("/gone.xml", rss_feed("Gone Gazette", []), "application/rss+xml")
    url = site.url("/gone.xml")
    assert run(capsys, "feeds", "add", url, "--library", "news")[0] == 0
    del site.pages["/gone.xml"]
    code, out, _ = run(capsys, "feeds", "poll", "--library", "news", "--json")
    report = json.loads(out)
    [result] = report["feeds"]
    assert code == 1 and report["added"] == [] and "HTTP 404" in result["error"]
    assert report["errors"] == [f"{url}: {result['error']}"]
    [listed] = json.loads(run(capsys, "feeds", "list", "--library", "news", "--json")[1])
    assert listed["errors"] == 1 and listed["last_error"] == result["error"] and listed["next_poll"]
    code, out, _ = run(capsys, "feeds", "poll", "--library", "news", "--force")
    assert code == 1 and f"Gone Gazette ({url}): failed: " in out


def test_one_failed_feed_fails_the_poll_after_the_others_are_saved_and_indexed(
    env: Path, site: LocalSite, capsys: pytest.CaptureFixture[str]
) -> None:
    good = serve_news(site)
    site.page("/gone.xml", rss_feed("Gone Gazette", []), "application/rss+xml")
    gone = site.url("/gone.xml")
    assert run(capsys, "feeds", "add", good)[0] == 0 and run(capsys, "feeds", "add", gone)[0] == 0
    del site.pages["/gone.xml"]
    code, out, _ = run(capsys, "feeds", "poll")
    assert code == 1, "a cron job hears of the failed feed"
    assert f"Gone Gazette ({gone}): failed: " in out and "Gorges Daily" in out and "2 new" in out
    assert "new or changed articles into base" in out  # its two, and the folder's own article
    code, out, _ = run(capsys, "ask", "How many bats were counted in the Ardèche caves in 2025?", "--json")
    assert code == 0 and any(p["site"] == "Gorges Daily" for p in json.loads(out)["passages"])
