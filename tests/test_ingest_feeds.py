"""Feeds: subscriptions, polls that save new items once, fallbacks, conditional GET, backoff.

Every download goes to a web server the test starts on 127.0.0.1; no model is loaded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from retrieval.articles import read_article, scan_folder
from retrieval.errors import FeedError
from retrieval.ingest.feeds import FeedOptions, Feeds, PollReport
from retrieval.ingest.registry import FeedRegistry
from retrieval.models import Article

from local_web import LocalSite, Page

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """The present, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


def story(words: str) -> str:
    """Paragraphs long enough to be an article's main text."""
    return "".join(
        f"<p>{words} The council met on Tuesday evening and heard from residents for three hours. "
        f"Engineers said the structure could not carry cars safely for another winter. ({n})</p>"
        for n in range(4)
    )


def article_page(
    title: str,
    body: str,
    *,
    canonical: str | None = None,
    published: str | None = None,
    author: str | None = None,
    site_name: str | None = None,
) -> str:
    head = f"<title>{title} | The Gazette</title>"
    if canonical:
        head += f'<link rel="canonical" href="{canonical}">'
    if published:
        head += f'<meta property="article:published_time" content="{published}">'
    if author:
        head += f'<meta name="author" content="{author}">'
    if site_name:
        head += f'<meta property="og:site_name" content="{site_name}">'
    head += "<script>window.track('Subscribe now for 1 euro');</script>"
    return (
        f"<!doctype html><html><head>{head}</head><body>"
        "<nav><a href='/'>Home</a> <a href='/sport'>Sport</a> <a href='/subscribe'>Subscribe now</a></nav>"
        f"<article><h1>{title}</h1>{body}</article>"
        "<aside>Most read: ten recipes for winter</aside>"
        "<footer>Copyright The Gazette. All rights reserved. Cookie settings.</footer></body></html>"
    )


def rss(title: str, items: list[dict[str, str]]) -> str:
    parts = []
    for item in items:
        fields = "".join(f"<{key}>{escape(value)}</{key}>" for key, value in item.items())
        parts.append(f"<item>{fields}</item>")
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{escape(title)}</title><link>http://example.org/</link>{''.join(parts)}</channel></rss>"
    )


def atom(title: str, entries: list[dict[str, str]]) -> str:
    parts = []
    for entry in entries:
        parts.append(
            f"<entry><title>{escape(entry['title'])}</title><link href='{escape(entry['link'])}'/>"
            f"<id>{escape(entry['id'])}</id><updated>{entry['updated']}</updated>"
            f"<author><name>{escape(entry.get('author', 'Desk'))}</name></author>"
            f"<summary>{escape(entry.get('summary', ''))}</summary></entry>"
        )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>{escape(title)}</title><id>urn:gazette</id><updated>2026-03-01T00:00:00Z</updated>"
        f"{''.join(parts)}</feed>"
    )


def rfc822(days_ago: float) -> str:
    return format_datetime(START - timedelta(days=days_ago))


def run(scenario: Callable[[LocalSite], Awaitable[None]]) -> None:
    async def main() -> None:
        async with LocalSite() as site:
            await scenario(site)

    asyncio.run(main())


def feeds_at(tmp_path: Path, clock: Clock | None = None, **options: object) -> Feeds:
    settings = {"url_allowlist": ("127.0.0.1",), "url_fetch_timeout": 5.0, **options}
    return Feeds(FeedRegistry(tmp_path / "data"), FeedOptions(**settings), clock=clock or Clock())  # type: ignore[arg-type]


def saved(folder: Path, name: str) -> tuple[Article, dict[str, object]]:
    files, _ = scan_folder(folder, 5_000_000)
    article = read_article(next(f for f in files if f.source_id == name), 5_000_000)
    return article, json.loads((folder / f"{name}.meta.json").read_text(encoding="utf-8"))


def articles_in(folder: Path) -> list[str]:
    return sorted(
        p.name for p in folder.iterdir() if not p.name.endswith(".meta.json") and not p.name.startswith(".")
    )


# --- one article, one copy -------------------------------------------------------------


def test_rss_and_atom_feeds_with_the_same_article_store_it_once(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        site.page(
            "/news/bridge-closes",
            article_page(
                "Bridge closes",
                story("The old bridge closes to cars."),
                published="2026-02-27T08:00:00+01:00",
                author="Page Author",
            ),
        )
        site.page(
            "/rss.xml",
            rss(
                "The Gazette",
                [
                    {
                        "title": "Bridge closes to cars",
                        "link": site.url("/news/bridge-closes?utm_source=rss&utm_medium=feed"),
                        "guid": "gazette-1",
                        "pubDate": "Fri, 27 Feb 2026 07:00:00 +0000",
                        "author": "desk@gazette.example (Ann Lee)",
                        "description": "The old bridge closes.",
                    }
                ],
            ),
            "application/rss+xml",
        )
        site.page(
            "/atom.xml",
            atom(
                "The Gazette (Atom)",
                [
                    {
                        "title": "Bridge closes to cars",
                        "link": site.url("/news/bridge-closes/?fbclid=abc&gclid=def"),
                        "id": "urn:gazette:1",
                        "updated": "2026-02-27T07:00:00Z",
                    }
                ],
            ),
            "application/atom+xml",
        )
        feeds = feeds_at(tmp_path)
        added = await feeds.add(site.url("/rss.xml"))
        assert (added.title, added.items) == ("The Gazette", 1)
        assert (await feeds.add(site.url("/atom.xml"))).title == "The Gazette (Atom)"
        report = await feeds.poll(articles)
        assert len(report.added) == 1 and report.errors == []
        assert [f.new for f in report.feeds] == [1, 0]
        assert site.count("/news/bridge-closes") + site.count("/news/bridge-closes/") == 1

    run(scenario)
    [name] = articles_in(articles)
    article, sidecar = saved(articles, name)
    assert name == "127-0-0-1-bridge-closes.html"
    # The feed's metadata goes first; the outlet, without og:site_name, is the feed's title.
    assert article.title == "Bridge closes to cars"
    assert article.published == "2026-02-27T07:00:00+00:00"
    assert article.author == "Ann Lee"
    assert article.site == "The Gazette"
    assert (
        article.url is not None and article.url.endswith("/news/bridge-closes") and "utm" not in article.url
    )
    assert sidecar["feed"] is not None and str(sidecar["feed"]).endswith("/rss.xml")
    assert sidecar["saved_from"] == "page"


def test_a_page_full_of_clutter_is_saved_whole_and_read_to_its_article(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        site.page(
            "/p/42",
            article_page(
                "Ferry strike",
                story("Ferry crews walked out at dawn."),
                published="2026-02-20T06:30:00+00:00",
                author="Bo Chen",
                site_name="Harbour Times",
            ),
        )
        # An item with neither title nor date: the page supplies them.
        site.page("/feed", rss("Harbour feed", [{"link": site.url("/p/42"), "guid": "42"}]), "text/xml")
        feeds = feeds_at(tmp_path)
        await feeds.add(site.url("/feed"))
        await feeds.poll(articles)

    run(scenario)
    [name] = articles_in(articles)
    article, _ = saved(articles, name)
    assert "Ferry crews walked out at dawn." in article.text
    for clutter in ("Subscribe now", "Most read", "Cookie settings", "window.track", "Sport"):
        assert clutter not in article.text
    assert (article.published, article.author, article.site) == (
        "2026-02-20T06:30:00+00:00",
        "Bo Chen",
        "Harbour Times",
    )
    assert article.title.startswith("Ferry strike")


def test_tracking_parameters_and_the_canonical_link_lead_to_one_copy(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        canonical = site.url("/story/harbour-deal")
        body = story("The harbour deal was signed.")
        site.page("/story/harbour-deal", article_page("Harbour deal", body, canonical=canonical))
        site.page(
            "/amp/harbour-deal",
            article_page("Harbour deal", body + "<p>AMP</p>", canonical="/story/harbour-deal"),
        )
        site.page("/story/other", article_page("Other story", story("Something else entirely happened.")))
        # Already in the folder through /add url: its sidecar names only its URL.
        articles.mkdir()
        (articles / "added.html").write_text(
            article_page("Other story", story("Something else.")), encoding="utf-8"
        )
        (articles / "added.html.meta.json").write_text(json.dumps({"url": site.url("/story/other")}))
        items = [
            {
                "title": "Deal",
                "link": site.url("/story/harbour-deal?utm_campaign=spring&id=7"),
                "guid": "a",
                "pubDate": rfc822(1),
            },
            {"title": "Deal (AMP)", "link": site.url("/amp/harbour-deal"), "guid": "b", "pubDate": rfc822(2)},
            {
                "title": "Other",
                "link": site.url("/story/other?utm_source=x"),
                "guid": "c",
                "pubDate": rfc822(3),
            },
        ]
        site.page("/feed", rss("Port news", items), "application/rss+xml")
        feeds = feeds_at(tmp_path)
        await feeds.add(site.url("/feed"))
        report = await feeds.poll(articles)
        assert len(report.added) == 1 and report.errors == []
        assert site.count("/story/other") == 0  # known from /add's sidecar: not even downloaded

    run(scenario)
    assert len(articles_in(articles)) == 2
    names = [n for n in articles_in(articles) if n != "added.html"]
    _, sidecar = saved(articles, names[0])
    assert str(sidecar["url"]).endswith("/story/harbour-deal")  # the canonical link, cited
    assert any(str(link).endswith("/story/harbour-deal?id=7") for link in sidecar["links"])  # type: ignore[attr-defined]


def test_a_section_as_canonical_link_neither_merges_stories_nor_is_cited(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        section = site.url("/news/")
        site.page(
            "/news/metro", article_page("Lyon metro line opens", story("Lyon metro."), canonical=section)
        )
        site.page(
            "/news/fires", article_page("Grenoble bans wood fires", story("Grenoble."), canonical=section)
        )
        items = [
            {"title": "Lyon metro line opens", "link": site.url("/news/metro"), "guid": "m"},
            {"title": "Grenoble bans wood fires", "link": site.url("/news/fires"), "guid": "f"},
        ]
        # Served with a type real feeds come with: the parser, not the label, says it is one.
        site.page("/feed", rss("City news", items), "application/x-rss+xml")
        feeds = feeds_at(tmp_path)
        await feeds.add(site.url("/feed"))
        assert len((await feeds.poll(articles)).added) == 2

    run(scenario)
    cited = {str(saved(articles, name)[1]["url"]).rsplit("/", 1)[-1] for name in articles_in(articles)}
    assert cited == {"metro", "fires"}


def test_a_page_that_only_sends_the_reader_on_is_followed(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        site.page("/news/otters", article_page("Otters are back on the Loire", story("Otters.")))
        site.page(
            "/r/otters",
            "<html><head><meta http-equiv='refresh' content='0;url=/news/otters'></head>"
            "<body>Redirecting to the article. If nothing happens, click here.</body></html>",
        )
        item = {"title": "Otters are back on the Loire", "link": site.url("/r/otters"), "guid": "o"}
        site.page("/feed", rss("River news", [item]), "application/rss+xml")
        feeds = feeds_at(tmp_path)
        await feeds.add(site.url("/feed"))
        assert (await feeds.poll(articles)).errors == []

    run(scenario)
    [name] = articles_in(articles)
    article, meta = saved(articles, name)
    assert "Redirecting" not in article.text and "Otters." in article.text
    assert str(meta["url"]).endswith("/news/otters")


def test_shared_guids_an_amp_canonical_and_an_escaped_refresh_are_read_right(tmp_path: Path) -> None:
    """Two feeds may both number their items 1001; an /amp page names its article as canonical;
    a refresh's address is HTML, with &amp; for &."""
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        site.page("/a/dam", article_page("Dam works begin on the Rhône", story("The Rhône dam.")))
        site.page("/b/tram", article_page("Tram strike in Lille", story("Lille tram drivers.")))
        site.page("/c/vote/amp", article_page("Council vote on bike lanes", story("Bike lanes."),
                                              canonical=site.url("/c/vote")))  # fmt: skip
        site.page("/d/otters", article_page("Otters in the Loire", story("Otters.")))
        site.page("/d/go", "<html><head><meta content='0; url=/d/otters?id=5&amp;lang=fr' "
                           "http-equiv='refresh'></head><body>Moving on.</body></html>")  # fmt: skip
        for path, items in (
            (
                "/a.xml",
                [{"title": "Dam works begin on the Rhône", "link": site.url("/a/dam"), "guid": "1001"}],
            ),
            ("/b.xml", [{"title": "Tram strike in Lille", "link": site.url("/b/tram"), "guid": "1001"}]),
            (
                "/c.xml",
                [{"title": "Council vote on bike lanes", "link": site.url("/c/vote/amp"), "guid": "v"}],
            ),
            ("/d.xml", [{"title": "Otters in the Loire", "link": site.url("/d/go"), "guid": "o"}]),
        ):
            site.page(path, rss(path, items), "application/rss+xml")
        feeds = feeds_at(tmp_path)
        for path in ("/a.xml", "/b.xml", "/c.xml", "/d.xml"):
            await feeds.add(site.url(path))
        assert len((await feeds.poll(articles)).added) == 4

    run(scenario)
    cited = {str(saved(articles, name)[1]["url"]).split("/", 3)[-1] for name in articles_in(articles)}
    assert cited == {"a/dam", "b/tram", "c/vote", "d/otters?id=5&lang=fr"}


def test_the_same_text_at_two_addresses_is_stored_once(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        body = story("Wire copy about the storm.")
        site.page("/a/storm", article_page("Storm", body))
        site.page("/b/storm-reprint", article_page("Storm", body))
        items = [
            {"title": "Storm", "link": site.url("/a/storm"), "guid": "1", "pubDate": rfc822(1)},
            {"title": "Storm again", "link": site.url("/b/storm-reprint"), "guid": "2", "pubDate": rfc822(2)},
        ]
        site.page("/feed", rss("Wire", items), "application/rss+xml")
        feeds = feeds_at(tmp_path)
        await feeds.add(site.url("/feed"))
        assert len((await feeds.poll(articles)).added) == 1

    run(scenario)
    assert len(articles_in(articles)) == 1


def test_a_different_article_with_the_same_file_name_is_not_overwritten(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "127-0-0-1-bridge.html").write_text("<p>an older, different article</p>", encoding="utf-8")

    async def scenario(site: LocalSite) -> None:
        site.page("/news/bridge", article_page("Bridge", story("A new bridge story.")))
        site.page(
            "/feed",
            rss("F", [{"title": "Bridge", "link": site.url("/news/bridge"), "guid": "1"}]),
            "text/xml",
        )
        feeds = feeds_at(tmp_path)
        await feeds.add(site.url("/feed"))
        [name] = (await feeds.poll(articles)).added
        assert name.startswith("127-0-0-1-bridge-") and name.endswith(".html")

    run(scenario)
    assert (articles / "127-0-0-1-bridge.html").read_text(
        encoding="utf-8"
    ) == "<p>an older, different article</p>"


# --- adding, listing, removing ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "page", "message"),
    [
        ("/missing", None, "HTTP 404"),
        (
            "/broken",
            Page(
                b"<?xml version='1.0'?><rss version='2.0'><channel><title>Broken</title><link>x & y",
                "application/rss+xml",
            ),
            "not a well-formed feed",
        ),
        (
            "/page",
            Page(article_page("Home", story("Front page.")).encode(), "text/html"),
            "is a web page, not a feed",
        ),
        ("/text", Page(b"just some words", "text/plain"), "is not a feed"),
        ("/image", Page(b"\x89PNG", "image/png"), "image/png, not a feed"),
    ],
)
def test_what_is_not_a_feed_is_refused_in_one_line_and_nothing_is_saved(
    tmp_path: Path, path: str, page: Page | None, message: str
) -> None:
    async def scenario(site: LocalSite) -> None:
        if page is not None:
            site.pages[path] = page
        feeds = feeds_at(tmp_path)
        with pytest.raises(FeedError, match=message) as caught:
            await feeds.add(site.url(path))
        assert "\n" not in str(caught.value)
        assert feeds.list() == []

    run(scenario)
    assert not (tmp_path / "data" / "feeds.json").exists()


def test_a_web_page_that_links_to_its_feed_subscribes_to_that_feed(tmp_path: Path) -> None:
    async def scenario(site: LocalSite) -> None:
        head = '<link rel="alternate" type="application/rss+xml" href="/rss.xml">'
        site.page("/", f"<!doctype html><html><head>{head}</head><body><p>Home</p></body></html>")
        feeds = feeds_at(tmp_path)
        with pytest.raises(
            FeedError, match=r"links to a feed at http://127\.0\.0\.1:\d+/rss\.xml: .*HTTP 404"
        ):
            await feeds.add(site.url("/"))
        site.page("/rss.xml", rss("Home news", [{"title": "A", "link": site.url("/a"), "guid": "a"}]),
                  "application/rss+xml")  # fmt: skip
        added = await feeds.add(site.url("/"))
        assert (added.url, added.title, added.items) == (site.url("/rss.xml"), "Home news", 1)
        assert [f.url for f in feeds.list()] == [site.url("/rss.xml")]

    run(scenario)


def test_bad_addresses_are_refused_before_any_download(tmp_path: Path) -> None:
    async def scenario(site: LocalSite) -> None:
        feeds = feeds_at(tmp_path)
        for address in ("ftp://example.org/feed", "feed.xml", "javascript:alert(1)"):
            with pytest.raises(FeedError, match="http:// or https://"):
                await feeds.add(address)
        with pytest.raises(FeedError, match="non-public"):
            await feeds_at(tmp_path, url_allowlist=()).add(site.url("/feed"))
        assert site.hits == []

    run(scenario)


def test_subscriptions_persist_and_duplicates_are_refused(tmp_path: Path) -> None:
    async def scenario(site: LocalSite) -> None:
        site.page("/feed/", rss("Gazette", []), "application/rss+xml")
        feeds = feeds_at(tmp_path)
        added = await feeds.add(site.url("/feed/?utm_source=newsletter#top"))
        assert added.url == site.url("/feed/") and added.items == 0
        for again in (site.url("/feed/"), site.url("/feed"), site.url("/feed/?utm_medium=x")):
            with pytest.raises(FeedError, match="already subscribed"):
                await feeds.add(again)

    run(scenario)
    later = Feeds(FeedRegistry(tmp_path / "data"))
    [feed] = later.list()
    assert feed.title == "Gazette" and feed.errors == 0 and feed.next_poll is None
    assert later.remove(feed.url + "?utm_source=x").url == feed.url
    assert Feeds(FeedRegistry(tmp_path / "data")).list() == []
    with pytest.raises(FeedError, match="no feed .* in the list"):
        later.remove(feed.url)


def test_a_damaged_subscription_file_is_reported_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "feeds.json").write_text("{not json", encoding="utf-8")
    feeds = feeds_at(tmp_path)
    with pytest.raises(FeedError, match="damaged"):
        feeds.list()
    with pytest.raises(FeedError, match="damaged"):
        feeds.remove("http://example.org/feed")
    assert (tmp_path / "data" / "feeds.json").read_text(encoding="utf-8") == "{not json"


# --- polls -----------------------------------------------------------------------------


def test_a_page_redirecting_to_a_private_address_falls_back_to_the_summary(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        site.redirect("/go/secret", "http://10.0.0.1/admin")
        summary = "<p>The <b>summary</b> of the story, as the feed gives it.</p><script>alert(1)</script>"
        items = [{"title": "Secret", "link": site.url("/go/secret"), "guid": "s", "description": summary}]
        site.page("/feed", rss("F", items), "application/rss+xml")
        feeds = feeds_at(tmp_path)
        await feeds.add(site.url("/feed"))
        report = await feeds.poll(articles)
        [name] = report.added
        assert name.endswith(".txt")
        [error] = report.errors
        assert "non-public" in error and "saved the feed's summary instead" in error and "\n" not in error
        assert report.feeds[0].error is None

    run(scenario)
    [name] = articles_in(articles)
    article, sidecar = saved(articles, name)
    assert article.text == "The summary of the story, as the feed gives it."
    assert article.title == "Secret" and sidecar["saved_from"] == "feed"


def test_an_oversized_page_is_refused_and_reported(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        site.page("/huge", article_page("Huge", story("Big.") * 200))
        items = [
            {"title": "Huge", "link": site.url("/huge"), "guid": "h", "description": "Short version of it."}
        ]
        site.page("/feed", rss("F", items), "application/rss+xml")
        feeds = feeds_at(tmp_path, max_download_bytes=20_000)
        await feeds.add(site.url("/feed"))
        report = await feeds.poll(articles)
        assert len(report.added) == 1
        assert "too large" in report.errors[0] and "summary" in report.errors[0]

    run(scenario)
    article, _ = saved(articles, articles_in(articles)[0])
    assert article.text == "Short version of it."


def test_a_page_without_article_text_falls_back_to_the_feed_content(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        site.page("/empty", "<html><body><script>app()</script></body></html>")
        content = "<p>Full text in the feed.</p><p>Second paragraph.</p>"
        site.page(
            "/feed",
            "<?xml version='1.0'?><rss version='2.0' xmlns:content='http://purl.org/rss/1.0/modules/content/'>"
            f"<channel><title>F</title><item><title>Empty page</title><link>{site.url('/empty')}</link>"
            f"<description>Teaser.</description><content:encoded>{escape(content)}</content:encoded></item>"
            "<item><title>No link at all</title><description>Only text here.</description></item>"
            "<item><title>Nothing</title><link>" + site.url("/gone") + "</link></item></channel></rss>",
            "application/rss+xml",
        )
        feeds = feeds_at(tmp_path)
        await feeds.add(site.url("/feed"))
        report = await feeds.poll(articles)
        assert len(report.added) == 2
        assert any("no article text" in e and "summary instead" in e for e in report.errors)
        assert any("has no link" in e for e in report.errors)
        assert any("HTTP 404" in e and "nothing saved" in e for e in report.errors)

    run(scenario)
    texts = sorted(saved(articles, name)[0].text for name in articles_in(articles))
    assert texts == ["Full text in the feed.\n\nSecond paragraph.", "Only text here."]


def test_a_page_that_is_down_with_nothing_in_the_feed_is_tried_again_next_poll(tmp_path: Path) -> None:
    articles, clock = tmp_path / "articles", Clock()

    async def scenario(site: LocalSite) -> None:
        site.page("/festival", "Service unavailable", status=503, headers={"Retry-After": "60"})
        site.page(
            "/feed",
            rss("F", [{"title": "Avignon festival names its director", "link": site.url("/festival"),
                       "guid": "festival", "pubDate": rfc822(0.1)}]),
            "application/rss+xml",
            etag='"v1"',
        )  # fmt: skip
        feeds = feeds_at(tmp_path, clock)
        await feeds.add(site.url("/feed"))
        first = await feeds.poll(articles)
        assert first.added == [] and any("tried again at the next poll" in e for e in first.errors)
        site.page("/festival", article_page("Avignon festival names its director", story("Avignon.")))
        clock.advance(31)
        second = await feeds.poll(articles)  # not hidden by a 304: the feed's version was not done
        assert second.added == ["127-0-0-1-festival.html"] and second.errors == []
        assert site.count("/festival") == 2

    run(scenario)


def test_a_page_that_stays_down_is_given_up_after_five_polls(tmp_path: Path) -> None:
    articles, clock = tmp_path / "articles", Clock()

    async def scenario(site: LocalSite) -> None:
        site.page("/checked", "Checking your browser", status=503)  # a bot check, for good
        item = {"title": "Behind a bot check", "link": site.url("/checked"), "guid": "c"}
        site.page("/feed", rss("F", [item]), "application/rss+xml", etag='"v1"')
        feeds = feeds_at(tmp_path, clock)
        await feeds.add(site.url("/feed"))
        errors = []
        for _ in range(6):
            errors.append((await feeds.poll(articles)).errors)
            clock.advance(31)
        assert all("tried again at the next poll" in e[0] for e in errors[:4])
        assert "given up after 5 polls" in errors[4][0] and errors[5] == []
        assert site.count("/checked") == 5 and feeds.list()[0].etag == '"v1"'

    run(scenario)


def test_dates_latin1_pages_and_a_placeholder_date_are_read_as_a_browser_and_an_editor_would(
    tmp_path: Path,
) -> None:
    articles = tmp_path / "articles"
    french = (
        "Les pêcheurs du Doubs s’inquiètent d’une eau trop chaude. « C’est du jamais vu », dit l’un d’eux. "
    )

    async def scenario(site: LocalSite) -> None:
        page = article_page("Le Doubs se réchauffe", f"<p>{french * 4}</p>", published="2026-02-10")
        latin = page.replace("<head>", "<head><meta charset='iso-8859-1'>").encode("cp1252")
        site.page("/doubs", latin, "text/html")  # no charset in the header: the page's own
        site.page("/annecy", article_page("Lake Annecy swimming ban lifted", story("Annecy."),
                                          published="2026-01-20"))  # fmt: skip
        site.page("/placeholder", article_page("Dijon mustard prices rise", story("Dijon.")))
        site.page(
            "/feed",
            "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'><title>F</title>"
            "<id>urn:f</id><updated>2026-03-01T00:00:00Z</updated>"
            f"<entry><title>Le Doubs se réchauffe</title><link href='{site.url('/doubs')}'/><id>d</id>"
            "<updated>2026-02-28T09:00:00Z</updated></entry>"
            f"<entry><title>Lake Annecy swimming ban lifted</title><link href='{site.url('/annecy')}'/>"
            "<id>a</id><updated>2026-02-27T09:00:00Z</updated></entry>"
            f"<entry><title>Dijon mustard prices rise</title><link href='{site.url('/placeholder')}'/>"
            "<id>p</id><published>1970-01-01T00:00:00Z</published><updated>2026-02-26T09:00:00Z</updated>"
            "</entry></feed>",
            "application/atom+xml",
        )
        feeds = feeds_at(tmp_path)
        await feeds.add(site.url("/feed"))
        assert len((await feeds.poll(articles)).added) == 3

    run(scenario)
    doubs, _ = saved(articles, "127-0-0-1-doubs.html")
    assert "s’inquiètent d’une eau trop chaude. « C’est du jamais vu »" in doubs.text
    # A feed's "updated" is when the entry last changed: the page's publication date comes first.
    assert saved(articles, "127-0-0-1-doubs.html")[1]["published"].startswith("2026-02-10")
    assert saved(articles, "127-0-0-1-annecy.html")[1]["published"].startswith("2026-01-20")
    # 1970-01-01 is a content system's empty date: the entry's last change is all there is.
    assert saved(articles, "127-0-0-1-placeholder.html")[1]["published"].startswith("2026-02-26")


def test_a_stub_or_a_wall_instead_of_the_article_gives_way_to_the_feeds_text(tmp_path: Path) -> None:
    """A paywall's first lines, a consent wall or an app's empty shell is not the article:
    the feed's text is saved (with the page's address and outlet), and two stories behind
    the same wall stay two."""
    articles = tmp_path / "articles"
    wall = "We and our 842 partners store and access information on your device to show you ads. " * 4
    full = (
        "The regional assembly approved the new line on Monday. Trains will take 1 h 50 between Rennes "
        "and Quimper from 2029, for a cost of 2.3 billion euros, and the route avoids the wetlands. " * 3
    )

    async def scenario(site: LocalSite) -> None:
        stub = "<p>The regional assembly approved the new line on Monday.</p><p>For subscribers only.</p>"
        site.page("/rail", article_page("Rennes-Quimper rail line approved", stub, site_name="Ouest Daily"))
        for slug in ("market", "museum"):
            site.page(
                f"/{slug}", f"<html><head><title>Consent</title></head><body><p>{wall}</p></body></html>"
            )
        site.page("/shell", f"<html><body><div id='root'></div><p>{wall}</p></body></html>")
        items = [
            {"title": "Rennes-Quimper rail line approved", "link": site.url("/rail"), "guid": "rail",
             "description": full},
            {"title": "Strasbourg Christmas market opens", "link": site.url("/market"), "guid": "market",
             "description": "The Strasbourg Christmas market opened with 300 stalls and 1,200 police."},
            {"title": "Colmar museum reopens its doors", "link": site.url("/museum"), "guid": "museum",
             "description": "The Unterlinden museum of Colmar reopened after two years of works."},
            {"title": "Nantes urban farm harvests", "link": site.url("/shell"), "guid": "shell"},
        ]  # fmt: skip
        site.page("/feed", rss("Ouest Daily", items), "application/rss+xml")
        feeds = feeds_at(tmp_path)
        await feeds.add(site.url("/feed"))
        report = await feeds.poll(articles)
        assert len(report.added) == 3
        assert any("/shell: no article text in the page (the page never names the headline)" in e
                   for e in report.errors)  # fmt: skip

    run(scenario)
    rail, meta = saved(articles, "127-0-0-1-rail.txt")
    assert "1 h 50 between Rennes and Quimper from 2029" in rail.text and meta["saved_from"] == "feed"
    assert meta["site"] == "Ouest Daily" and str(meta["url"]).endswith("/rail")
    texts = {saved(articles, name)[0].text for name in articles_in(articles)}
    assert any("300 stalls" in t for t in texts) and any("Unterlinden" in t for t in texts)
    assert not any("842 partners" in t for t in texts)


def test_conditional_get_and_a_second_poll_that_adds_nothing(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        site.page("/a", article_page("A", story("Story A.")))
        items = [{"title": "A", "link": site.url("/a"), "guid": "a"}]
        site.page(
            "/feed",
            rss("F", items),
            "application/rss+xml",
            etag='"v1"',
            last_modified="Sun, 01 Mar 2026 11:00:00 GMT",
        )
        site.page("/plain", rss("P", items), "application/rss+xml")  # no validators at all
        clock = Clock()
        feeds = feeds_at(tmp_path, clock)
        await feeds.add(site.url("/feed"))
        await feeds.add(site.url("/plain"))
        first = await feeds.poll(articles)
        assert len(first.added) == 1 and site.count("/a") == 1
        first_poll = [hit for hit in site.hits if hit.path == "/feed"][1]
        assert "If-None-Match" not in first_poll.headers  # added without validators: all items wanted
        clock.advance(31)
        second = await feeds.poll(articles)
        assert second.added == [] and second.errors == []
        assert [(f.new, f.error) for f in second.feeds] == [(0, None), (0, None)]
        feed_requests = [hit for hit in site.hits if hit.path == "/feed"]
        assert feed_requests[-1].headers["If-None-Match"] == '"v1"'
        assert feed_requests[-1].headers["If-Modified-Since"] == "Sun, 01 Mar 2026 11:00:00 GMT"
        assert site.count("/a") == 1  # no page downloaded again
        assert site.count("/plain") == 3  # add, then two full polls

    run(scenario)
    assert len(articles_in(articles)) == 1


def test_items_are_taken_newest_first_up_to_the_cap_per_poll(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        items = []
        for n, days in enumerate([3, 1, 5, 2, 4]):  # feed order is not date order
            site.page(f"/s{n}", article_page(f"Story {n}", story(f"Story number {n} of five.")))
            items.append(
                {"title": f"S{n}", "link": site.url(f"/s{n}"), "guid": f"g{n}", "pubDate": rfc822(days)}
            )
        site.page("/feed", rss("F", items), "application/rss+xml", etag='"same"')
        clock = Clock()
        feeds = feeds_at(tmp_path, clock, feed_max_items_per_poll=2, feed_seen_items=10)
        await feeds.add(site.url("/feed"))
        polls = []
        for _ in range(4):
            report = await feeds.poll(articles, force=True)
            polls.append([saved(articles, name)[0].title for name in report.added])
        assert polls == [["S1", "S3"], ["S0", "S4"], ["S2"], []]
        # The ETag was kept only after the last item was taken: the fourth poll got a 304.
        assert [hit.headers.get("If-None-Match") for hit in site.hits if hit.path == "/feed"] == [
            None,
            None,
            None,
            None,
            '"same"',
        ]

    run(scenario)


def test_a_corrected_story_is_saved_again_under_its_name_and_only_then(tmp_path: Path) -> None:
    """A new headline, or a later "updated" date, says an item changed: its page is read
    again and saved over the version saved before, so the next index run replaces it."""
    articles, clock = tmp_path / "articles", Clock()

    def feed(site: LocalSite, title: str, updated: str) -> str:
        return (
            "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'><title>F</title>"
            f"<id>urn:f</id><updated>{updated}</updated><entry><title>{title}</title>"
            f"<link href='{site.url('/lighthouse')}'/><id>l</id><published>2026-02-20T09:00:00Z</published>"
            f"<updated>{updated}</updated></entry></feed>"
        )

    async def scenario(site: LocalSite) -> None:
        first, then = "Old lighthouse to become a research station", "Correction: lighthouse station delayed"
        site.page("/lighthouse", article_page(first, story("It will open in 2028 for 4.2 million euros.")))
        site.page("/feed", feed(site, first, "2026-02-20T09:00:00Z"), "application/atom+xml")
        feeds = feeds_at(tmp_path, clock)
        await feeds.add(site.url("/feed"))
        assert (await feeds.poll(articles)).added == ["127-0-0-1-lighthouse.html"]
        clock.advance(31)
        assert (await feeds.poll(articles)).revised == []  # nothing changed: not read again
        assert site.count("/lighthouse") == 1
        site.page("/lighthouse", article_page(then, story("It will open in 2031 for 9.7 million euros.")))
        site.page("/feed", feed(site, then, "2026-02-25T09:00:00Z"), "application/atom+xml", etag='"v2"')
        clock.advance(31)
        down = site.pages["/lighthouse"]
        site.page("/lighthouse", "busy", "text/plain", status=503)  # down when the change is seen
        changed = await feeds.poll(articles)
        assert changed.revised == [] and any("changed, but" in e for e in changed.errors)
        site.pages["/lighthouse"] = down
        clock.advance(31)
        report = await feeds.poll(articles)  # no 304 hides it: the feed's version was not done
        assert (report.added, report.revised) == ([], ["127-0-0-1-lighthouse.html"])
        clock.advance(31)
        assert (await feeds.poll(articles)).revised == []  # once

    run(scenario)
    assert articles_in(articles) == ["127-0-0-1-lighthouse.html"]
    article, meta = saved(articles, "127-0-0-1-lighthouse.html")
    assert "2031 for 9.7 million euros" in article.text and "2028" not in article.text
    assert meta["title"] == "Correction: lighthouse station delayed" and "revised_at" in meta
    assert str(meta["published"]).startswith("2026-02-20")  # still published when it was


def test_a_brief_without_a_link_is_saved_once_even_after_subscribing_again(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        briefs = [{"title": "Brief: Dijon mustard", "description": "Mustard seed prices rose 12 %."},
                  {"title": "Brief: Lyon metro", "description": "Line B runs again."}]  # fmt: skip
        site.page("/feed", rss("Briefs", briefs), "application/rss+xml")
        feeds = feeds_at(tmp_path)
        await feeds.add(site.url("/feed"))
        assert len((await feeds.poll(articles)).added) == 2
        feeds.remove(site.url("/feed"))
        await feeds.add(site.url("/feed"))
        assert (await feeds.poll(articles)).added == []

    run(scenario)
    assert len(articles_in(articles)) == 2


def test_an_item_that_leaves_its_feed_leaves_its_article_in_place(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        site.page("/old", article_page("Old", story("The old story.")))
        site.page("/new", article_page("New", story("The new story.")))
        site.page(
            "/feed",
            rss("F", [{"title": "Old", "link": site.url("/old"), "guid": "old"}]),
            "application/rss+xml",
        )
        feeds = feeds_at(tmp_path)
        await feeds.add(site.url("/feed"))
        assert len((await feeds.poll(articles)).added) == 1
        site.page(
            "/feed",
            rss("F", [{"title": "New", "link": site.url("/new"), "guid": "new"}]),
            "application/rss+xml",
        )
        assert len((await feeds.poll(articles, force=True)).added) == 1
        site.page("/feed", rss("F", []), "application/rss+xml")
        assert (await feeds.poll(articles, force=True)).added == []

    run(scenario)
    titles = sorted(saved(articles, name)[0].title for name in articles_in(articles))
    assert titles == ["New", "Old"]


def test_errors_back_off_and_a_success_resets_the_count(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        site.page("/feed", rss("F", []), "application/rss+xml")
        clock = Clock()
        feeds = feeds_at(tmp_path, clock, feed_poll_minutes=30, feed_max_backoff_minutes=100)
        await feeds.add(site.url("/feed"))
        site.page("/feed", "overloaded", "text/plain", status=503)

        async def poll_at(minutes: float) -> PollReport:
            clock.now = START + timedelta(minutes=minutes)
            return await feeds.poll(articles)

        report = await poll_at(0)
        assert "HTTP 503" in (report.feeds[0].error or "") and "HTTP 503" in report.errors[0]
        [feed] = feeds.list()
        assert feed.errors == 1 and feed.next_poll == (START + timedelta(minutes=60)).isoformat()
        assert (await poll_at(59)).feeds == []  # not due: nothing asked
        assert site.count("/feed") == 2
        await poll_at(60)
        assert feeds.list()[0].next_poll == (START + timedelta(minutes=60 + 100)).isoformat()  # 120, capped
        assert feeds.next_poll_at() == START + timedelta(minutes=160)
        site.page("/feed", rss("F again", []), "application/rss+xml")
        report = await poll_at(160)
        assert report.feeds[0].error is None
        [feed] = feeds.list()
        assert (feed.errors, feed.last_error, feed.title) == (0, None, "F again")
        assert feed.next_poll == (START + timedelta(minutes=190)).isoformat()
        # "Too many requests; come back in 80 minutes": at least that, within the cap.
        site.page("/feed", "slow down", "text/plain", status=429, headers={"Retry-After": "4800"})
        await poll_at(190)
        assert feeds.list()[0].next_poll == (START + timedelta(minutes=190 + 80)).isoformat()
        site.page("/feed", "slow down", "text/plain", status=429, headers={"Retry-After": "86400"})
        await poll_at(270)
        assert feeds.list()[0].next_poll == (START + timedelta(minutes=270 + 100)).isoformat()
        site.page("/feed", "slow down", "text/plain", status=429, headers={"Retry-After": "9" * 40})
        await poll_at(370)  # a server's absurd wait is the cap too, not an overflow
        assert feeds.list()[0].next_poll == (START + timedelta(minutes=370 + 100)).isoformat()

    run(scenario)


def test_a_feed_that_becomes_broken_is_an_error_of_the_poll(tmp_path: Path) -> None:
    async def scenario(site: LocalSite) -> None:
        site.page("/feed", rss("F", []), "application/rss+xml")
        feeds = feeds_at(tmp_path)
        await feeds.add(site.url("/feed"))
        site.page("/feed", "<html><body>Maintenance</body></html>")
        report = await feeds.poll(tmp_path / "articles")
        assert "not a feed" in (report.feeds[0].error or "")
        assert feeds.list()[0].last_error == report.feeds[0].error

    run(scenario)


def test_the_report_json_and_one_poll_at_a_time(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        site.page("/a", article_page("A", story("Story A.")))
        site.page(
            "/feed",
            rss("Feed title", [{"title": "A", "link": site.url("/a"), "guid": "a"}]),
            "application/rss+xml",
        )
        registry = FeedRegistry(tmp_path / "data")
        feeds = Feeds(registry, FeedOptions(url_allowlist=("127.0.0.1",)))
        await feeds.add(site.url("/feed"))
        with registry.polling(), pytest.raises(FeedError, match="polled already"):
            await feeds.poll(articles)
        report = await feeds.poll(articles)
        assert report.to_json() == {
            "feeds": [{"url": site.url("/feed"), "title": "Feed title", "new": 1, "error": None}],
            "added": ["127-0-0-1-a.html"],
            "revised": [],
            "errors": [],
        }
        json.dumps(report.to_json())

    run(scenario)


def test_a_feed_removed_during_a_poll_is_not_brought_back(tmp_path: Path) -> None:
    articles = tmp_path / "articles"

    async def scenario(site: LocalSite) -> None:
        feeds = feeds_at(tmp_path)

        async def slow_page() -> Page:
            feeds.remove(site.url("/feed"))  # another command, while the poll downloads
            return Page(article_page("A", story("Story A.")).encode())

        site.pages["/a"] = slow_page
        site.page(
            "/feed", rss("F", [{"title": "A", "link": site.url("/a"), "guid": "a"}]), "application/rss+xml"
        )
        await feeds.add(site.url("/feed"))
        report = await feeds.poll(articles)
        assert len(report.added) == 1
        assert feeds.list() == []

    run(scenario)


def test_options_from_settings_like_objects() -> None:
    class Settings:
        max_download_bytes = 1234
        url_fetch_timeout = 3.0
        url_allowlist = ("127.0.0.1",)
        feed_poll_minutes = 10.0
        discord_token = "ignored"

    options = FeedOptions.from_settings(Settings())
    assert (options.max_download_bytes, options.url_allowlist, options.feed_poll_minutes) == (
        1234,
        ("127.0.0.1",),
        10.0,
    )
    assert options.feed_max_items_per_poll == 20
    with pytest.raises(ValueError, match="feed_max_items_per_poll"):
        FeedOptions(feed_max_items_per_poll=0)


def test_a_pubdate_written_in_french_gives_the_items_day() -> None:
    from retrieval.ingest.entries import parse_feed

    feed = rss("Le Quotidien", [{"title": "Grève", "link": "http://example.org/a", "guid": "a",
                                 "pubDate": "mardi 1er décembre 2026 14:00"}])  # fmt: skip
    [item] = parse_feed(feed.encode(), "http://example.org/feed", "application/rss+xml", None).items
    assert item.published == "2026-12-01"
