"""Incremental indexing against a real embedded Chroma in a temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import load_settings
from retrieval.embedding import Embedder
from retrieval.errors import ArticlesDirError, IndexBusyError
from retrieval.service import Retriever


def _counts(report) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    return len(report.added), len(report.changed), len(report.removed), len(report.unchanged)


def test_first_run_indexes_every_seed_and_second_run_nothing(retriever: Retriever) -> None:
    first = retriever.index()
    assert _counts(first) == (4, 0, 0, 0)
    assert first.chunks_embedded == retriever.store.count() > 4
    catalog = retriever.store.catalog()
    assert set(catalog.entries) == {p.name for p in retriever.settings.articles_dir.iterdir()}
    record = retriever.registry.record("base")
    assert record is not None and record.identity == retriever.model_identity
    assert record.articles == 4 and record.passages == first.chunks_embedded and not record.dirty

    second = retriever.index()
    assert _counts(second) == (0, 0, 0, 4)
    assert second.chunks_embedded == 0
    assert second.seconds < 1.0


def test_added_changed_and_removed_articles(retriever: Retriever, articles: Path) -> None:
    retriever.index()
    before = retriever.store.count()

    (articles / "new.md").write_text(
        "# Festival news\n\nIntersect Festival moved to Reno this year.", encoding="utf-8"
    )
    report = retriever.index()
    assert report.added == ["new.md"] and report.chunks_embedded == 1
    assert retriever.store.count() == before + 1

    target = articles / "003_8dd3d7f5671449ac.txt"
    text = target.read_text(encoding="utf-8")
    target.write_text(text.replace("Read Next", "Read Next: a follow-up on the protests"), encoding="utf-8")
    report = retriever.index()
    assert report.changed == ["003_8dd3d7f5671449ac.txt"]
    article_chunks = next(s.chunks for s in retriever.sources() if s.source_id == target.name)
    # Only the passages around the edit are embedded again, not the whole article.
    assert 1 <= report.chunks_embedded <= 2 < article_chunks
    assert report.chunks_deleted == report.chunks_embedded
    assert retriever.store.count() == before + 1

    (articles / "new.md").unlink()
    report = retriever.index()
    assert report.removed == ["new.md"]
    assert retriever.store.count() == before
    assert {s.source_id for s in retriever.sources()} == {p.name for p in articles.iterdir()}


def test_renamed_articles_keep_their_vectors_and_are_not_a_mass_removal(
    retriever: Retriever, articles: Path
) -> None:
    retriever.index()
    question = "What did No Music for ICE demand?"
    before = [(p.text, p.highlight, round(p.score, 4)) for p in retriever.search(question).passages]
    passages = retriever.store.count()
    for path in sorted(articles.iterdir()):  # every article, as an operator renaming the archive
        path.rename(articles / f"2019-{path.name}")
    report = retriever.index()  # no --prune: nothing is lost
    assert len(report.added) == len(report.removed) == 4 and report.chunks_embedded == passages
    assert report.sentences_embedded == 0, "the vectors are the stored ones"
    assert retriever.store.count() == passages
    after = retriever.search(question).passages
    assert [(p.text, p.highlight, round(p.score, 4)) for p in after] == before
    assert all(p.source_id.startswith("2019-") for p in after)

    target = articles / "2019-003_8dd3d7f5671449ac.txt"
    text = target.read_text(encoding="utf-8")
    target.write_text(text.replace("Read Next", "Read Next: a follow-up on the protests."), encoding="utf-8")
    report = retriever.index()
    assert report.changed == [target.name] and report.chunks_embedded >= 1
    assert 1 <= report.sentences_embedded <= 2, "only the edited sentence is embedded again"


def test_a_renamed_article_keeps_its_vectors_when_sentences_are_embedded_with_the_title(
    settings, embedder: Embedder, articles: Path
) -> None:  # type: ignore[no-untyped-def]
    retriever = Retriever(settings.model_copy(update={"sentence_context": "title"}), embedder=embedder)
    retriever.index()
    (articles / "001_4b0b25bb2bafa5d9.txt").rename(articles / "music.txt")
    report = retriever.index()
    assert report.added == ["music.txt"] and report.chunks_embedded > 0 and report.sentences_embedded == 0


def test_a_broken_update_keeps_the_last_good_version(retriever: Retriever, articles: Path) -> None:
    retriever.index()
    count = retriever.store.count()
    (articles / "001_4b0b25bb2bafa5d9.txt").write_bytes(b"\x00\x01binary garbage\xff")
    report = retriever.index()
    reason = report.skipped["001_4b0b25bb2bafa5d9.txt"]
    assert (
        reason.startswith("binary") and reason.endswith("stays") and "; the version indexed on 20" in reason
    )
    assert len(report.unchanged) == 3, "counted once: as skipped, not unchanged too"
    assert retriever.store.count() == count
    answer = retriever.search("What are the four demands in the No Music for ICE open letter?")
    assert any(p.source_id == "001_4b0b25bb2bafa5d9.txt" for p in answer.passages)


def test_an_indexed_article_grown_past_the_limit_keeps_its_version_and_the_next_run_has_nothing_to_do(
    settings, embedder: Embedder, articles: Path
) -> None:  # type: ignore[no-untyped-def]
    retriever = Retriever(settings.model_copy(update={"max_article_bytes": 100_000}), embedder=embedder)
    retriever.index()
    count, generation = retriever.store.count(), retriever.registry.record("base").generation
    name = "001_4b0b25bb2bafa5d9.txt"
    with (articles / name).open("a", encoding="utf-8") as file:
        file.write("\nMore text.\n" * 20_000)
    report = retriever.index()
    assert report.skipped[name].endswith("stays") and not report.removed and name not in report.unchanged
    assert retriever.store.count() == count
    generation = retriever.registry.record("base").generation
    again = retriever.index()
    assert retriever.registry.record("base").generation == generation, "nothing to do: no run"
    assert again.skipped[name].endswith("stays") and name not in again.unchanged and len(again.unchanged) == 3


def test_rebuild_and_model_change_replace_every_vector(
    retriever: Retriever, settings, embedder: Embedder
) -> None:  # type: ignore[no-untyped-def]
    retriever.index()
    report = retriever.index(rebuild=True)
    assert report.rebuilt and report.chunks_embedded == retriever.store.count()

    class Renamed:
        """The same model under another identity, as if the settings named another one."""

        identity = "test:another-model"
        dim, max_tokens = embedder.dim, embedder.max_tokens
        count_tokens = staticmethod(embedder.count_tokens)
        embed_passages = staticmethod(embedder.embed_passages)
        embed_queries = staticmethod(embedder.embed_queries)

    other = Retriever(settings, embedder=Renamed())  # type: ignore[arg-type]
    report = other.index()
    assert report.rebuilt and len(report.added) == 4
    assert (other.registry.record("base").identity or "").startswith("test:another-model|")
    with pytest.raises(Exception, match="run `citebot index`"):
        retriever.search("Who is Andy Jassy?")


def test_a_second_writer_is_refused(retriever: Retriever, settings) -> None:  # type: ignore[no-untyped-def]
    from filelock import FileLock

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with (
        FileLock(str(retriever.folder.write_lock)),
        pytest.raises(IndexBusyError, match="another citebot process"),
    ):
        retriever.index()


def test_missing_articles_folder_changes_nothing(retriever: Retriever, tmp_path: Path) -> None:
    retriever.index()
    before = (retriever.registry.record("base"), retriever.store.catalog())
    with pytest.raises(ArticlesDirError, match="nothing was changed"):
        retriever.index(tmp_path / "missing")
    assert (retriever.registry.record("base"), retriever.store.catalog()) == before
    assert len(retriever.sources()) == 4


def test_leftovers_of_an_interrupted_run_are_cleaned(
    retriever: Retriever, articles: Path, embedder: Embedder
) -> None:
    retriever.index()
    count = retriever.store.count()
    # A run that died after writing passages but before the catalog lists them: orphans.
    retriever.store.upsert(["orphan-1"], ["orphan passage"], [{"source_id": "gone.txt"}])
    record = retriever.registry.record("base")
    record.dirty = True
    retriever.registry.save(record)
    report = Retriever(retriever.settings, embedder=embedder).index()
    assert report.chunks_embedded == 0
    assert retriever.store.count() == count
    assert not retriever.registry.record("base").dirty


def test_a_new_process_sees_the_index(retriever: Retriever, settings, embedder: Embedder) -> None:  # type: ignore[no-untyped-def]
    retriever.index()
    fresh = Retriever(
        load_settings(articles_dir=settings.articles_dir, data_dir=settings.data_dir), embedder=embedder
    )
    assert fresh.has_index()
    assert len(fresh.sources()) == 4
    assert fresh.search("Palantir contract with ICE").passages


class WhereEmbedded:
    """The real model, noting which thread embeds passages and at what priority."""

    def __init__(self, model: Embedder) -> None:
        self.model = model
        self.identity, self.dim, self.max_tokens = model.identity, model.dim, model.max_tokens
        self.count_tokens = model.count_tokens
        self.embed_queries = model.embed_queries
        self.threads: list[tuple[str, int]] = []

    def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        import os
        import threading

        priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        self.threads.append((threading.current_thread().name, priority))
        return self.model.embed_passages(texts)


@pytest.mark.parametrize("background", [False, True])
def test_a_background_run_embeds_in_a_thread_of_lower_priority(
    tmp_path: Path, articles: Path, embedder: Embedder, background: bool
) -> None:
    """The bot's runs embed in a thread that gives way to the questions it answers
    meanwhile; ``citebot index`` embeds in its own thread at its own priority."""
    import os
    import threading

    noting = WhereEmbedded(embedder)
    retriever = Retriever(load_settings(articles_dir=articles, data_dir=tmp_path / "data"), embedder=noting)  # type: ignore[arg-type]
    report = retriever.index(background=background)
    assert report.chunks_embedded > 0 and noting.threads
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    if background:
        assert {name.split("_")[0] for name, _ in noting.threads} == {"citebot-embed"}
        if os.uname().sysname == "Linux":
            assert {priority for _, priority in noting.threads} == {min(19, mine + 10)}
    else:
        assert {name for name, _ in noting.threads} == {threading.current_thread().name}
        assert {priority for _, priority in noting.threads} == {mine}
    assert retriever.search("What did No Music for ICE demand?").answered


def test_the_bot_indexes_in_the_background(tmp_path: Path, articles: Path, embedder: Embedder) -> None:
    import asyncio

    from bot.service import AnswerService

    noting = WhereEmbedded(embedder)
    service = AnswerService(
        Retriever(load_settings(articles_dir=articles, data_dir=tmp_path / "data"), embedder=noting)  # type: ignore[arg-type]
    )
    assert asyncio.run(service.reindex("test")).chunks_embedded > 0
    assert {name.split("_")[0] for name, _ in noting.threads} == {"citebot-embed"}
