"""The indexing plan, decided without touching the disk, the store or the model."""

from __future__ import annotations

from pathlib import Path

from retrieval.articles import ArticleFile
from retrieval.catalog import ArticleEntry
from retrieval.models import Article, Chunk
from retrieval.plan import ArticleUpdate, files_to_read, plan_index


def _file(name: str, sha: str) -> ArticleFile:
    return ArticleFile(path=Path(name), source_id=name, sha256=sha)


def _entry(sha: str, chunks: list[str], sentences: list[int] | None = None) -> ArticleEntry:
    return ArticleEntry(
        sha256=sha, title="t", language="en", chunks=chunks, indexed_at="", sentences=sentences or []
    )


def _update(name: str, sha: str, chunks: list[str]) -> ArticleUpdate:
    article = Article(source_id=name, title="t", text="x", language="en", sha256=sha)
    return ArticleUpdate(article, [Chunk(c, name, c, n, "¶ 1") for n, c in enumerate(chunks)])


def test_only_files_whose_content_differs_are_read() -> None:
    entries = {"a.txt": _entry("1", ["a1"]), "b.txt": _entry("2", ["b1"])}
    files = [_file("a.txt", "1"), _file("b.txt", "changed"), _file("c.txt", "3")]
    assert [f.source_id for f in files_to_read(entries, files)] == ["b.txt", "c.txt"]


def test_new_changed_removed_and_unchanged_articles() -> None:
    entries = {
        "keep.txt": _entry("1", ["k1", "k2"]),
        "edit.txt": _entry("2", ["e1", "e2", "e3"], [4, 5, 6]),
        "gone.txt": _entry("3", ["g1"]),
    }
    files = [_file("keep.txt", "1"), _file("edit.txt", "2b"), _file("new.txt", "4")]
    read = {
        "edit.txt": _update("edit.txt", "2b", ["e1", "e9", "e3"]),
        "new.txt": _update("new.txt", "4", ["n1"]),
    }
    plan = plan_index(entries, files, read)

    assert (plan.added, plan.changed, plan.removed, plan.unchanged) == (
        ["new.txt"],
        ["edit.txt"],
        ["gone.txt"],
        ["keep.txt"],
    )
    # In the changed article only the passage whose text changed is embedded; the others are reused.
    assert sorted(c.id for _, c in plan.embed) == ["e9", "n1"]
    assert sorted(c.id for _, c in plan.reuse) == ["e1", "e3"]
    assert plan.delete == ["e2", "g1"]
    assert plan.sentence_counts == {"e1": 4, "e2": 5, "e3": 6}
    assert plan.writes


def test_an_unreadable_new_version_keeps_the_last_good_one() -> None:
    entries = {"a.txt": _entry("1", ["a1"])}
    plan = plan_index(
        entries, [_file("a.txt", "broken"), _file("b.txt", "2")], {"a.txt": "binary file", "b.txt": "empty"}
    )
    assert plan.unchanged == [] and plan.added == [] and plan.removed == []  # counted once, as skipped
    assert plan.skipped == {"a.txt": "binary file; the version indexed stays", "b.txt": "empty"}
    assert not plan.embed and not plan.delete and not plan.writes


def test_passages_an_interrupted_run_left_are_reused_or_deleted() -> None:
    files = [_file("a.txt", "1")]
    read = {"a.txt": _update("a.txt", "1", ["a1", "a2"])}
    plan = plan_index(
        {}, files, read, leftover={"a1", "stray"}, skipped={"x.pdf": "unsupported file type .pdf"}
    )
    assert [c.id for _, c in plan.reuse] == ["a1"] and [c.id for _, c in plan.embed] == ["a2"]
    assert plan.delete == ["stray"]
    assert plan.skipped == {"x.pdf": "unsupported file type .pdf"}


def test_an_indexed_article_the_scan_cannot_read_is_kept_not_removed() -> None:
    # Its permissions changed, or it grew past the size limit: it is still there.
    entries = {"a.txt": _entry("1", ["a1"]), "gone.txt": _entry("2", ["g1"])}
    skipped = {"a.txt": "cannot be read (Permission denied)", "new.txt": "too large"}
    plan = plan_index(entries, [], {}, skipped=skipped)
    assert plan.removed == ["gone.txt"] and plan.delete == ["g1"]
    assert plan.skipped == {
        "a.txt": "cannot be read (Permission denied); the version indexed stays",
        "new.txt": "too large",
    }
