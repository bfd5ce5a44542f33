"""Date filters: --since / --until read as dates, applied inside Chroma's query and to BM25."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from config import load_settings
from retrieval import lexical as bm25
from retrieval.dates import DateRange, display_stamp, parse_range, short_date
from retrieval.embedding import Embedder
from retrieval.errors import QuestionError
from retrieval.service import Retriever

NOW = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)


def stamp(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def test_a_day_counts_from_its_start_to_its_end() -> None:
    day = parse_range("2020-02-12", "2020-02-12", now=NOW)
    assert day == DateRange(stamp("2020-02-12T00:00:00"), stamp("2020-02-13T00:00:00") - 1)
    assert day.contains(stamp("2020-02-12T23:59:59")) and not day.contains(stamp("2020-02-13T00:00:00"))
    assert parse_range("2020-02-12T09:30:00+01:00", None).since == stamp("2020-02-12T08:30:00")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", "2026-03-24T15:30:00"),
        ("2w", "2026-03-17T15:30:00"),
        ("1m", "2026-02-28T15:30:00"),  # 31 March less a month: the last day of February
        ("3M", "2025-12-31T15:30:00"),
        ("1y", "2025-03-31T15:30:00"),
    ],
)
def test_relative_dates_count_back_from_now(text: str, expected: str) -> None:
    assert parse_range(text, None, now=NOW).since == stamp(expected)
    assert parse_range(None, text, now=NOW).until == stamp(expected)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("1er décembre 2025", "2025-12-01"),
        ("mardi 2 déc. 2025", "2025-12-02"),
        ("Dec 3, 2025", "2025-12-03"),
        ("hier", "2026-03-30"),
        ("Aujourd’hui", "2026-03-31"),
        ("yesterday", "2026-03-30"),
    ],
)
def test_a_day_in_words_counts_from_its_start_to_its_end(text: str, day: str) -> None:
    assert parse_range(text, text, now=NOW) == DateRange(stamp(f"{day}T00:00:00"), stamp(f"{day}T23:59:59"))


@pytest.mark.parametrize(("french", "english"), [("7j", "7d"), ("2s", "2w"), ("1A", "1y")])
def test_french_units_count_back_as_the_english_ones(french: str, english: str) -> None:
    assert parse_range(french, french, now=NOW) == parse_range(english, english, now=NOW)


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (None, "9999-12-31"),
        ("0001-01-01", None),
        ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"),
        (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)),
    ],
)
def test_the_calendars_ends_exclude_nothing_and_turn_back_into_dates(since: Any, until: Any) -> None:
    """Past the calendar's ends once in UTC, a bound is the earliest or latest moment kept."""
    found = parse_range(since, until, now=NOW)
    assert found.contains(stamp("1900-01-01T00:00:00")) and found.contains(stamp("2200-01-01T00:00:00"))
    assert DateRange.from_json(found.to_json()) == found
    assert all(moment is None or 1 <= moment.year <= 9999 for moment in found.moments().values())


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("last week", None, "since: not a date"),
        ("7 décembre", None, "since: not a date"),  # a day in words names its year
        (None, "2020-13-01", "until: not a date"),
        ("2021-01-01", "2020-01-01", "the range is empty"),
        ("99999y", None, "too long ago"),
    ],
)
def test_bad_dates_are_one_line_question_errors(since: str | None, until: str | None, message: str) -> None:
    with pytest.raises(QuestionError, match=message) as caught:
        parse_range(since, until, now=NOW)
    assert "\n" not in str(caught.value)


def test_undated_articles_are_outside_every_range_and_the_where_filters_inside_chroma() -> None:
    assert DateRange().contains(None) and DateRange().where() is None
    assert not DateRange(since=0).contains(None)
    assert DateRange(since=5).where() == {"published_ts": {"$gte": 5}}
    assert DateRange(since=5, until=9).where() == {
        "$and": [{"published_ts": {"$gte": 5}}, {"published_ts": {"$lte": 9}}]
    }
    both = parse_range("2020-02-12", "2020-03-01")
    assert DateRange.from_json(json.loads(json.dumps(both.to_json()))) == both


def test_dates_as_citations_show_them() -> None:
    assert (
        short_date("2020-02-12") == "12 Feb 2020" and short_date("2020-02-12T23:30:00-05:00") == "12 Feb 2020"
    )
    assert short_date(None) == "" and short_date("soon") == ""
    # A day is shown from its noon UTC: the same calendar day from UTC-12 to UTC+11.
    assert display_stamp("2020-02-12") == stamp("2020-02-12T12:00:00")
    assert display_stamp("2020-02-12T09:30:00+00:00") == stamp("2020-02-12T09:30:00")
    assert display_stamp(None) is None


def test_bm25_keeps_only_the_allowed_passages() -> None:
    index = bm25.LexicalIndex()
    index.update({f"p{n}": (f"walrus colony census number {n}", "en") for n in range(20)}, remove=())
    assert len(bm25.search([index], "walrus census", 5)) == 5
    kept = bm25.search([index], "walrus census", 5, allowed={"p3", "p17"})
    assert sorted(chunk for chunk, _ in kept) == ["p17", "p3"]
    assert bm25.search([index], "walrus census", 5, allowed=set()) == []


# --- through the retriever, on real Chroma ---------------------------------------------

WALRUS = (
    "Walrus count on Svalbard {year}\n\n"
    "Biologists counted the walrus herds hauled out on the beaches of Svalbard in {year}, "
    "and the census found {count} animals, a number they compare with earlier summers.\n\n"
    "The walrus census uses drones flying over the haul-out sites at low tide."
)


@pytest.fixture
def dated(tmp_path: Path, embedder: Embedder) -> Retriever:
    """Three walrus censuses: published in 2020, in 2024, and one without a date."""
    folder = tmp_path / "articles"
    folder.mkdir()
    for name, year, count, published in (
        ("walrus-2020.txt", 2020, "4,100", "2020-02-12"),
        ("walrus-2024.txt", 2024, "5,300", "2024-08-30T10:00:00+02:00"),
        ("walrus-undated.txt", 2022, "4,800 zyxwalrus", None),
    ):
        (folder / name).write_text(WALRUS.format(year=year, count=count), encoding="utf-8")
        if published:
            meta = {"published": published, "site": "Polar Post"}
            (folder / f"{name}.meta.json").write_text(json.dumps(meta), encoding="utf-8")
    retriever = Retriever(load_settings(articles_dir=folder, data_dir=tmp_path / "data"), embedder=embedder)
    retriever.index()
    return retriever


def sources(retriever: Retriever, question: str, **dates: Any) -> set[str]:
    return {p.source_id for p in retriever.search(question, k=5, **dates).passages}


def test_an_undated_or_out_of_range_article_never_appears(dated: Retriever) -> None:
    question = "How many walruses did the Svalbard census count? zyxwalrus"  # the undated one's own word
    assert sources(dated, question) == {"walrus-2020.txt", "walrus-2024.txt", "walrus-undated.txt"}
    assert sources(dated, question, since="2024-01-01") == {"walrus-2024.txt"}
    assert sources(dated, question, until="2020-02-12") == {"walrus-2020.txt"}
    assert sources(dated, question, since="2020-01-01", until="2025-01-01") == {
        "walrus-2020.txt",
        "walrus-2024.txt",
    }
    assert sources(dated, question, since="2021-01-01", until="2023-12-31") == set()
    nothing = dated.search(question, since="2021-01-01", until="2023-12-31")
    assert not nothing.answered and nothing.passages == []


def test_the_where_reaches_the_sentence_query(dated: Retriever, monkeypatch: pytest.MonkeyPatch) -> None:
    queries: list[dict[str, Any]] = []
    call = dated.chroma.call

    def spy(function: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(function, "__name__", "") == "query":
            queries.append(kwargs)
        return call(function, *args, **kwargs)

    monkeypatch.setattr(dated.chroma, "call", spy)
    dated.search("How many walruses were counted?", since="2024-01-01", until="2024-12-31")
    assert queries and queries[-1]["where"] == {
        "$and": [
            {"published_ts": {"$gte": stamp("2024-01-01T00:00:00")}},
            {"published_ts": {"$lte": stamp("2025-01-01T00:00:00") - 1}},
        ]
    }
    dated.search("How many walruses were counted?")
    assert "where" not in queries[-1]


def test_a_date_changed_in_the_sidecar_moves_the_article_in_the_filter(dated: Retriever) -> None:
    folder = dated.settings.articles_dir
    sidecar = folder / "walrus-2020.txt.meta.json"
    sidecar.write_text(json.dumps({"published": "2024-11-02", "site": "Polar Post"}), encoding="utf-8")
    report = dated.index()
    assert report.changed == ["walrus-2020.txt"] and report.chunks_embedded == 0  # the text is the same
    question = "How many walruses did the Svalbard census count?"
    assert sources(dated, question, since="2024-10-01") == {"walrus-2020.txt"}
    stored = dated.store.chroma.call(
        dated.store._require(dated.store.names.sentences).get, include=["metadatas"]
    )
    by_passage = {m["chunk_id"]: m.get("published_ts") for m in stored["metadatas"]}
    [chunk] = [p.chunk_id for p in dated.search(question, since="2024-10-01").passages]
    assert by_passage[chunk] == stamp("2024-11-02T00:00:00")
    sidecar.unlink()
    dated.index()
    assert sources(dated, question, since="2000-01-01") == {"walrus-2024.txt"}
    assert "walrus-2020.txt" in sources(dated, question)
