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
