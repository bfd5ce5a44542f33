"""One source of truth: the catalog in Chroma, libraries, read-only processes, the writer
lease, the mass-removal guard and the migration of older indexes (embedded store; the
same against a real Chroma server is in test_replicas.py)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from citebot import main
from config import load_settings
from retrieval.embedding import Embedder
from retrieval.errors import ArticlesDirError, IndexBusyError, LibraryError, MassRemovalError, ReadOnlyError
from retrieval.lexical import LexicalIndex
from retrieval.registry import Lease, WriterLease
from retrieval.service import Retriever

from data_paths import DATA
from index_checks import assert_consistent
from legacy import make_legacy

DISTRACTORS = DATA / "distractors"


@pytest.fixture
def shared_model(monkeypatch: pytest.MonkeyPatch, embedder: Embedder) -> None:
    """CLI commands in this process use the session's model (one load, vectors remembered)."""
    import citebot

    monkeypatch.setattr(citebot, "_retriever", lambda settings: Retriever(settings, embedder=embedder))


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, articles: Path, tmp_path: Path, shared_model: None) -> None:
    """`citebot` commands run here read the seeds and write an index under ``tmp_path``."""
    monkeypatch.setenv("CITEBOT_ARTICLES_DIR", str(articles))
    monkeypatch.setenv("CITEBOT_DATA_DIR", str(tmp_path / "data"))


def _library_folder(tmp_path: Path, name: str, *articles: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for prefix in articles:
        source = next(DISTRACTORS.glob(f"{prefix}_*.md"))
        shutil.copy(source, folder / source.name)
    return folder


# --- Nothing lost by accident ------------------------------------------------------------


def test_a_run_that_would_empty_or_mostly_empty_the_index_stops(
    retriever: Retriever, articles: Path, tmp_path: Path
) -> None:
    retriever.index()
    before = (retriever.registry.record("base"), retriever.store.catalog(), retriever.store.count())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MassRemovalError, match=r"holds none of the 4 indexed articles; nothing was changed"):
        retriever.index(empty)
    for prune in (False, True):  # a missing folder is a typo or a disk not mounted, --prune or not
        with pytest.raises(
            ArticlesDirError, match=r"nothing was changed \(to empty the index, index an empty"
        ):
            retriever.index(tmp_path / "unmounted", prune=prune)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder", encoding="utf-8")
    for prune in (False, True):  # --prune cannot make a file a folder: it is not offered
        with pytest.raises(ArticlesDirError, match=r"is not a folder: .*notes.txt; nothing was changed$"):
            retriever.index(a_file, prune=prune)
    for name in sorted(p.name for p in articles.iterdir())[:3]:
        (articles / name).unlink()
    with pytest.raises(MassRemovalError, match="would remove 3 of the 4 indexed articles"):
        retriever.index()
    assert (retriever.registry.record("base"), retriever.store.catalog(), retriever.store.count()) == before
    assert len(retriever.search("What did No Music for ICE demand?").passages) == 5

    report = retriever.index(prune=True)
    assert len(report.removed) == 3 and len(retriever.sources()) == 1
    assert_consistent(retriever)


def test_removing_a_few_articles_needs_no_consent(retriever: Retriever, articles: Path) -> None:
    retriever.index()
    (articles / "000_44bf25875507660d.txt").unlink()
    assert retriever.index().removed == ["000_44bf25875507660d.txt"]


def test_the_cli_says_how_to_allow_a_mass_removal(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index"]) == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "one.txt").write_text("One article\n\nAbout something else entirely.", encoding="utf-8")
    capsys.readouterr()
    # Tried as a new user would: indexing another folder no longer replaces the whole index.
    assert main(["index", "--articles", str(other)]) == 1
    err = capsys.readouterr().err
    assert "would remove 4 of the 4" not in err and "holds none of the 4 indexed articles" in err
    assert "--prune" in err and err.count("\n") == 1
    assert main(["index", "--articles", str(other), "--prune", "--json"]) == 0
    assert "one.txt" in capsys.readouterr().out


# --- Libraries ---------------------------------------------------------------------------


def test_a_library_is_searched_with_the_base_never_with_another(retriever: Retriever, tmp_path: Path) -> None:
    retriever.index()
    retriever.index(_library_folder(tmp_path, "one", "d01"), library="workers")
    retriever.index(_library_folder(tmp_path, "two", "d02"), library="festivals")
    question = "How many Microsoft employees signed the internal letter about the Army contract?"

    def sources(library: str | None) -> set[str]:
        return {p.source_id for p in retriever.search(question, k=10, library=library).passages}

    assert any(s.startswith("d01_") for s in sources("workers"))
    assert not any(s.startswith("d01_") for s in sources("festivals")), "another server's article"
    assert not any(s.startswith("d01_") for s in sources(None)), "a server's article in the base"
    assert any(s.startswith("00") for s in sources("festivals")), "the base is searched too"
    listed = {(s.library, s.source_id[:3]) for s in retriever.sources(library="workers")}
    assert ("workers", "d01") in listed and ("base", "000") in listed and ("festivals", "d02") not in listed
    assert set(retriever.libraries()) == {"base", "workers", "festivals"}
    assert_consistent(retriever, library="workers")
    # A library that does not exist yet adds nothing, and a bad name is refused.
    assert sources("nobody-yet") == sources(None)
    with pytest.raises(LibraryError, match="cannot name a library"):
        retriever.search(question, library="../etc")
    # Nor one whose collections would be another library's ("workers" has "...--workers-terms").
    with pytest.raises(LibraryError, match="may not end in -sentences, -articles, -terms, -vectors"):
        retriever.search(question, library="workers-terms")


def test_removing_a_library_deletes_all_of_it_and_nothing_else(
    retriever: Retriever, tmp_path: Path, embedder: Embedder
) -> None:
    from retrieval.ingest.registry import Subscription
    from retrieval.subscriptions import LibraryFeeds

    retriever.index()
    saved = retriever.articles_folder("guild-7")  # where /add and feeds save a server's articles
    saved.mkdir(parents=True)
    shutil.copy(next(DISTRACTORS.glob("d01_*.md")), saved)
    retriever.index(library="guild-7")
    retriever.index(_library_folder(tmp_path, "other", "d02"), library="guild-8")
    feeds = LibraryFeeds(retriever)
    for library in ("guild-7", "guild-8"):
        feeds.feeds(library).store.save(
            {"https://example.org/rss": Subscription("https://example.org/rss", "x", "")}
        )
    question = "How many Microsoft employees signed the internal letter about the Army contract?"
    reader = _following_reader(retriever, tmp_path, embedder, seconds=0)  # a replica reading it
    assert any(
        p.source_id.startswith("d01_") for p in reader.search(question, k=10, library="guild-7").passages
    )
    base_before = [(p.source_id, p.score) for p in retriever.search(question).passages]

    removed = retriever.remove_library("guild-7")

    assert removed is not None and removed.articles == 1
    assert set(retriever.libraries()) == {"base", "guild-8"}
    assert not retriever.store_of("guild-7").exists() and not saved.parent.exists()
    assert not retriever.folder.lexical_cache("guild-7").exists()
    assert feeds.list("guild-7") == [] and len(feeds.list("guild-8")) == 1, "only its own feeds"
    for process in (retriever, reader):
        passages = process.search(question, k=10, library="guild-7").passages
        assert not any(p.source_id.startswith("d01_") for p in passages), "a removed library's article"
    assert [(p.source_id, p.score) for p in retriever.search(question).passages] == base_before
    assert any(
        p.source_id.startswith("d02_") for p in retriever.search(question, k=10, library="guild-8").passages
    )
    assert_consistent(retriever)
    assert_consistent(retriever, library="guild-8")
    # What a removal cut short leaves (the record gone, the collections not) is removed too.
    retriever.registry.remove("guild-8")
    assert retriever.remove_library("guild-8") is None and not retriever.store_of("guild-8").exists()
    with pytest.raises(LibraryError, match="no library called guild-8"):
        retriever.remove_library("guild-8")
    with pytest.raises(LibraryError, match="base library .* cannot be removed"):
        retriever.remove_library("base")
    with pytest.raises(ReadOnlyError, match="remove libraries where the writer runs"):
        reader.remove_library("guild-8")
    assert set(retriever.libraries()) == {"base"}


def test_the_cli_takes_a_library_on_index_ask_sources_and_eval(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _library_folder(tmp_path, "lib", "d01", "d05")
    assert main(["index"]) == 0
    assert main(["index", "--library", "workers", "--articles", str(folder)]) == 0
    assert "into workers: 2 added" in capsys.readouterr().out
    assert main(["sources", "--json", "--library", "workers"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    assert {r["library"] for r in rows} == {"base", "workers"} and len(rows) == 6
    dated = next(r for r in rows if r["source_id"].startswith("d01_"))
    assert dated["published"] == "2019-10-22" and dated["site"] and dated["author"]
    assert main(["ask", "--library", "workers", "How many Microsoft employees signed?", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["passages"][0]["source"].startswith("https://")
    monkeypatch.setenv("CITEBOT_LIBRARY", "workers")
    assert main(["eval", str(DATA / "distractors_users.jsonl"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["all"]["hit@5"] > 0.3
    for command in (["sources"], ["ask", "Who signed?"], ["eval", str(DATA / "distractors_users.jsonl")]):
        assert main([*command, "--library", "wokers"]) == 1  # a typo: not the base alone, silently
        err = capsys.readouterr().err
        assert (
            err.startswith("citebot: error: the store holds no library called wokers (")
            and err.count("\n") == 1
        )
    with pytest.raises(SystemExit) as refused:  # a usage error, as the parser reports them
        main(["index", "--library", "Bad Name"])
    assert refused.value.code == 2
    assert "argument --library: 'Bad Name' cannot name a library" in capsys.readouterr().err
    monkeypatch.setenv("CITEBOT_LIBRARY", "Bad Name")
    assert main(["sources"]) == 2
    err = capsys.readouterr().err
    assert "CITEBOT_LIBRARY: 'Bad Name' cannot name a library" in err and err.count("\n") == 1


class _Terminal:
    """A terminal where the user types ``answer``."""

    def __init__(self, answer: str) -> None:
        self.answer = answer

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        return self.answer + "\n"


def test_citebot_libraries_lists_them_and_removes_one_only_with_consent(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import json
    import sys

    assert main(["index"]) == 0
    assert (
        main(["index", "--library", "workers", "--articles", str(_library_folder(tmp_path, "lib", "d01"))])
        == 0
    )
    capsys.readouterr()
    assert main(["libraries", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"base", "workers"} and (rows["workers"]["articles"], rows["workers"]["feeds"]) == (
        1,
        0,
    )
    assert main(["libraries", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("workers\t1 article\t")
    for stdin, said in ((io.StringIO(""), ""), (_Terminal("n"), "n")):  # no terminal to ask; "no"
        monkeypatch.setattr(sys, "stdin", stdin)
        assert main(["libraries", "remove", "workers"]) == 1, said
        err = capsys.readouterr().err
        assert "nothing was removed; removing workers (1 article, " in err and "pass --yes" in err
        assert main(["libraries", "list", "--json"]) == 0
        assert len(json.loads(capsys.readouterr().out)) == 2, "still there"
    monkeypatch.setattr(sys, "stdin", _Terminal("y"))
    assert main(["libraries", "remove", "workers"]) == 0
    assert capsys.readouterr().out.endswith(
        "Removed the library workers (1 article, 3 passages): its passages, feeds and saved articles.\n"
    )
    assert main(["libraries", "remove", "workers", "--yes"]) == 1
    assert "the store holds no library called workers" in capsys.readouterr().err
    assert main(["libraries", "remove", "base", "--yes"]) == 1
    assert "cannot be removed" in capsys.readouterr().err
    assert main(["libraries", "list", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["base"]


# --- Roles -------------------------------------------------------------------------------


def test_a_read_only_process_answers_and_never_writes(
    retriever: Retriever, tmp_path: Path, embedder: Embedder
) -> None:
    retriever.index()
    reader = Retriever(
        retriever.settings.model_copy(
            update={
                "read_only": True,
                "articles_dir": tmp_path / "none",
                "data_dir": retriever.settings.data_dir,
            }
        ),
        embedder=embedder,
    )
    assert reader.search("Who is Andy Jassy?").passages
    with pytest.raises(ReadOnlyError, match="read-only .CITEBOT_READ_ONLY=true."):
        reader.index()
    with pytest.raises(ReadOnlyError):
        reader.index(library="workers")
    assert reader.ensure_index() is None
    assert retriever.registry.lease() is None, "the reader never took the writer lease"


def test_a_read_only_cli_refuses_to_index_and_never_indexes_before_asking(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CITEBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CITEBOT_READ_ONLY", "true")
    assert main(["index"]) == 1
    assert "read-only" in capsys.readouterr().err
    assert main(["ask", "Who is Andy Jassy?"]) == 1
    err = capsys.readouterr().err
    assert "no index" in err and "the writer has not indexed anything yet" in err and "indexing" not in err


def test_the_writer_lease_refuses_a_live_writer_and_frees_a_dead_one(retriever: Retriever) -> None:
    retriever.index()
    registry = retriever.registry
    elsewhere = Lease("someone-else", "another-host", 1, time.time() + 30, time.time())
    registry.put_lease(elsewhere)
    with pytest.raises(IndexBusyError, match="process 1 on another-host"):
        retriever.index()
    # Expired: free to take.
    registry.put_lease(Lease("someone-else", "another-host", 1, time.time() - 1, time.time() - 60))
    retriever.index()
    # Not expired, but held by a process of this machine that no longer exists.
    gone = os.getpid() + 100_000
    registry.put_lease(Lease("killed", WriterLease(registry).host, gone, time.time() + 30, time.time()))
    retriever.index()
    assert registry.lease() is None, "a finished run gives the lease up"


def test_the_lease_is_renewed_while_held(retriever: Retriever) -> None:
    retriever.index()
    lease = WriterLease(retriever.registry, ttl=2.0, heartbeat=0.2, settle=0.0)
    lease.acquire()
    try:
        first = retriever.registry.lease()
        time.sleep(0.8)
        later = retriever.registry.lease()
        assert first is not None and later is not None and later.owner == lease.owner
        assert later.expires_at > first.expires_at
        lease.acquire()  # holds are counted
        lease.release()
        assert retriever.registry.lease() is not None
    finally:
        lease.release()
    assert retriever.registry.lease() is None


# --- The store holds what is needed to answer ----------------------------------------------


def test_a_process_with_an_empty_data_folder_answers_as_the_writer(
    retriever: Retriever, tmp_path: Path, embedder: Embedder
) -> None:
    retriever.index()
    # Server mode is what shares a store between data folders; embedded, the reader opens
    # the writer's Chroma folder and nothing else of the writer's.
    settings = retriever.settings.model_copy(update={"data_dir": tmp_path / "reader", "read_only": True})
    reader = Retriever(settings, embedder=embedder)
    reader._chroma = retriever.chroma
    for question in ("What did No Music for ICE demand?", "Quel festival à Las Vegas est alimenté par AWS ?"):
        mine, theirs = retriever.search(question), reader.search(question)
        assert [(p.chunk_id, round(p.score, 6)) for p in mine.passages] == [
            (p.chunk_id, round(p.score, 6)) for p in theirs.passages
        ]
        assert (mine.answered, round(mine.margin, 6)) == (theirs.answered, round(theirs.margin, 6))
    cached = LexicalIndex.load(reader.folder.lexical_cache("base"))
    assert cached is not None and cached[1]["generation"] == retriever.registry.record("base").generation


def test_no_pickle_and_no_manifest_in_the_data_folder(retriever: Retriever) -> None:
    retriever.index()
    names = {p.name for p in retriever.settings.data_dir.rglob("*") if p.is_file()}
    assert not {n for n in names if n.endswith((".pkl", ".pickle")) or n == "manifest.json"}


# --- Migration ---------------------------------------------------------------------------


def test_an_index_of_the_earlier_layout_moves_without_embedding_again(
    retriever: Retriever, embedder: Embedder
) -> None:
    retriever.index()
    question = "What did No Music for ICE demand?"
    before = [(p.chunk_id, round(p.score, 5)) for p in retriever.search(question).passages]
    make_legacy(retriever)
    assert retriever.folder.manifest.exists() and retriever.folder.legacy_lexical.exists()

    moved = Retriever(retriever.settings, embedder=embedder)
    assert moved.has_index()
    report = moved.index()
    assert report.chunks_embedded == 0 and sorted(report.unchanged) == sorted(
        p.name for p in retriever.settings.articles_dir.iterdir()
    )
    assert not retriever.folder.manifest.exists() and not retriever.folder.legacy_lexical.exists()
    assert retriever.folder.manifest.with_name("manifest.json.migrated").exists()
    assert_consistent(moved)
    assert [(p.chunk_id, round(p.score, 5)) for p in moved.search(question).passages] == before
    # New articles land in the moved index like in any other.
    (retriever.settings.articles_dir / "new.md").write_text(
        "# Reno\n\nIntersect moved to Reno.", encoding="utf-8"
    )
    assert moved.index().added == ["new.md"]
    assert_consistent(moved)


def test_ask_adopts_an_earlier_layout_rather_than_indexing_again(
    monkeypatch: pytest.MonkeyPatch,
    articles: Path,
    tmp_path: Path,
    embedder: Embedder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = load_settings(articles_dir=articles, data_dir=tmp_path / "data")
    built = Retriever(settings, embedder=embedder)
    built.index()
    make_legacy(built)
    monkeypatch.setenv("CITEBOT_ARTICLES_DIR", str(articles))
    monkeypatch.setenv("CITEBOT_DATA_DIR", str(tmp_path / "data"))
    import citebot

    monkeypatch.setattr(citebot, "_retriever", lambda s: Retriever(s, embedder=embedder))
    assert main(["ask", "Who is Andy Jassy?", "--json"]) == 0
    assert "no index yet" not in capsys.readouterr().err
    assert main(["index", "--json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["chunks_embedded"] == 0


@pytest.mark.parametrize("check", ["poll", "refresh"])
def test_a_poll_that_read_the_records_before_a_run_finished_keeps_the_newer_view(
    tmp_path: Path, check: str
) -> None:
    """The records a poll (a search's, or the follower's) reads while this process's run
    finishes are older than the view the run published: the poll must not bring the
    library back to them."""
    from retrieval.library import LibraryView, Views
    from retrieval.registry import LibraryRecord

    old, new = (LibraryRecord("base", "model", epoch="e", generation=g) for g in (1, 2))
    published = LibraryView("base", new)

    class SlowRegistry:
        def records(self) -> dict[str, LibraryRecord]:
            views.publish(published)  # the run finishes while the records are being read
            return {"base": old}

    def no_store(name: str) -> None:
        raise AssertionError("the published view is current: nothing is read from the store")

    views = Views(SlowRegistry, no_store, lambda name: tmp_path / name, refresh_seconds=0.0)  # type: ignore[arg-type]
    views.publish(LibraryView("base", old))  # the view held before the run
    getattr(views, check)()
    assert views.get("base") is published


def _following_reader(retriever: Retriever, tmp_path: Path, embedder: Embedder, seconds: float) -> Retriever:
    """A read-only process on the writer's store (embedded: its Chroma folder), with a
    data folder of its own, its views kept current by a follower."""
    settings = retriever.settings.model_copy(
        update={"data_dir": tmp_path / "reader", "read_only": True, "refresh_seconds": seconds}
    )
    reader = Retriever(settings, embedder=embedder)
    reader._chroma = retriever.chroma
    return reader


def _until(condition, seconds: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_follower_brings_a_reader_up_to_date_before_it_is_asked(
    retriever: Retriever, articles: Path, tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from retrieval.layout import BASE_LIBRARY

    retriever.index()
    reader = _following_reader(retriever, tmp_path, embedder, seconds=0.1)
    question = "How many Microsoft employees signed the letter about the Army cloud contract?"
    assert not any(p.source_id.startswith("d01_") for p in reader.search(question).passages)
    reader.follow()
    reader.follow()  # once is enough
    asking = threading.get_ident()
    checked_by_the_search: list[str] = []
    records = reader.registry.records

    def spied() -> dict:  # type: ignore[type-arg]
        if threading.get_ident() == asking:
            checked_by_the_search.append("records")
        return records()

    monkeypatch.setattr(reader.registry, "records", spied)
    try:
        for change in ("add", "remove"):
            if change == "add":
                shutil.copy(next(DISTRACTORS.glob("d01_*.md")), articles)
            else:
                next(articles.glob("d01_*.md")).unlink()
            retriever.index()
            generation = retriever.registry.record(BASE_LIBRARY).generation
            assert _until(lambda: reader.views.held(BASE_LIBRARY).generation == generation), change  # noqa: B023
            shown = [p.source_id[:4] for p in reader.search(question).passages]
            if change == "add":
                assert shown[0] == "d01_"
            else:
                assert shown and "d01_" not in shown
        assert checked_by_the_search == [], "the searches never read the records themselves"
    finally:
        reader.stop_following()
    assert not reader.views.following


def test_a_follower_outlives_a_store_that_fails_and_searches_then_meet_the_error(
    retriever: Retriever,
    tmp_path: Path,
    embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from retrieval.errors import StoreUnavailableError

    retriever.index()
    reader = _following_reader(retriever, tmp_path, embedder, seconds=0.05)
    assert reader.search("Who is Andy Jassy?").passages
    reader.follow()
    records = reader.registry.records

    def down() -> dict:  # type: ignore[type-arg]
        raise StoreUnavailableError("Chroma server at 127.0.0.1:1 is not answering")

    try:
        with caplog.at_level("INFO", logger="retrieval.library"):
            monkeypatch.setattr(reader.registry, "records", down)
            assert _until(lambda: "could not check the store" in caplog.text)
            time.sleep(0.3)  # past the follower's grace: a search checks for itself
            with pytest.raises(StoreUnavailableError, match="not answering"):
                reader.search("Who is Andy Jassy?")
            monkeypatch.setattr(reader.registry, "records", records)
            assert _until(lambda: "the store answers again" in caplog.text)
        assert caplog.text.count("could not check the store") == 1, "one warning per outage"
        assert reader.search("Who is Andy Jassy?").passages
    finally:
        reader.stop_following()


def test_warming_up_loads_the_index_before_the_first_question(
    retriever: Retriever, tmp_path: Path, embedder: Embedder
) -> None:
    from retrieval.errors import StoreUnavailableError
    from retrieval.layout import BASE_LIBRARY

    empty = Retriever(retriever.settings.model_copy(update={"read_only": True}), embedder=embedder)
    with pytest.raises(StoreUnavailableError, match="no index"):
        empty.warm()
    retriever.index()
    reader = _following_reader(retriever, tmp_path, embedder, seconds=2.0)
    assert reader.views.held(BASE_LIBRARY) is None
    assert reader.warm() > 0
    assert reader.views.held(BASE_LIBRARY) is not None
    assert reader.folder.lexical_cache(BASE_LIBRARY).exists(), "derived and kept for the next start"
    assert "news" not in reader._query_cache, "the warm-up question is not kept as if asked"
