"""Scanning the folder: unchanged files are not hashed again, changed ones always are."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from retrieval.articles import scan_folder
from retrieval.service import Retriever

LIMIT = 1_000_000


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_known_stamp_skips_the_read_and_any_change_is_seen(tmp_path: Path) -> None:
    article = tmp_path / "a.txt"
    article.write_text("Palantir works with ICE.", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Other\n\nText.", encoding="utf-8")
    files, _ = scan_folder(tmp_path, LIMIT)
    first = {f.source_id: f for f in files}
    assert first["a.txt"].sha256 == _sha(article) and first["a.txt"].stamp

    # Same stamp: the hash given is trusted (the file is not read; "cafe" proves it).
    known = {"a.txt": (first["a.txt"].stamp, "cafe"), "b.md": (first["b.md"].stamp, first["b.md"].sha256)}
    files, _ = scan_folder(tmp_path, LIMIT, known)
    assert {f.source_id: f.sha256 for f in files}["a.txt"] == "cafe"

    # Same size, same modification time, other content: the change time gives it away.
    info = article.stat()
    article.write_text("Palantir works with ICX.", encoding="utf-8")
    os.utime(article, ns=(info.st_atime_ns, info.st_mtime_ns))
    files, _ = scan_folder(tmp_path, LIMIT, known)
    assert {f.source_id: f.sha256 for f in files}["a.txt"] == _sha(article)

    # A sidecar that appears changes the stamp too.
    (tmp_path / "b.md.meta.json").write_text(json.dumps({"title": "B"}), encoding="utf-8")
    files, _ = scan_folder(tmp_path, LIMIT, known)
    assert {f.source_id: f.sha256 for f in files}["b.md"] != first["b.md"].sha256


def test_reindex_sees_an_edit_that_keeps_size_and_mtime(retriever: Retriever, articles: Path) -> None:
    retriever.index()
    stamps = {n: e.stamp for n, e in retriever.store.catalog().entries.items()}
    assert all(stamps.values())

    target = articles / "003_8dd3d7f5671449ac.txt"
    info = target.stat()
    text = target.read_text(encoding="utf-8")
    target.write_text(text.replace("Read Next", "Read Nexx"), encoding="utf-8")
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert target.stat().st_size == info.st_size
    report = retriever.index()
    assert report.changed == [target.name]

    # Touched but unchanged: nothing to do, and the new stamp is recorded.
    os.utime(articles / "000_44bf25875507660d.txt")
    report = retriever.index()
    assert not report.modified
    entries = retriever.store.catalog().entries
    assert entries["000_44bf25875507660d.txt"].stamp != stamps["000_44bf25875507660d.txt"]


def test_a_subfolder_of_articles_is_named_as_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Palantir works with ICE.", encoding="utf-8")
    (tmp_path / "archive" / "2026").mkdir(parents=True)
    (tmp_path / "archive" / "2026" / "old.md").write_text("# Old\n\nText.", encoding="utf-8")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "photo.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.txt").write_text("x", encoding="utf-8")
    files, skipped = scan_folder(tmp_path, LIMIT)
    assert [f.source_id for f in files] == ["a.txt"]
    assert skipped == {"archive": "a folder: the articles in subfolders are not indexed"}


def test_an_article_moved_into_a_subfolder_is_named_on_every_run(
    retriever: Retriever, articles: Path, caplog
) -> None:
    retriever.index()
    (articles / "archive").mkdir()
    (articles / "000_44bf25875507660d.txt").rename(articles / "archive" / "000_44bf25875507660d.txt")
    report = retriever.index()
    assert report.removed == ["000_44bf25875507660d.txt"]
    assert report.skipped == {"archive": "a folder: the articles in subfolders are not indexed"}
    caplog.clear()
    report = retriever.index()  # nothing to do: the folder is still named
    assert not report.modified and "archive" in report.skipped
    assert "skipped archive: a folder" in caplog.text
