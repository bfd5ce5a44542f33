"""The feedback store: answers posted, one vote per member per answer, exports."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from retrieval.evaluation import load_questions
from retrieval.feedback import DOWN, UP, FeedbackStore, as_eval
from retrieval.layout import DataFolder
from retrieval.models import Answer, Passage

USER = 123456789012345678


def passage(rank: int, source: str = "harbour.txt", sentence: str = "") -> Passage:
    sentence = sentence or f"The harbour master said ship {rank} left at dawn."
    return Passage(
        rank=rank,
        source=source,
        source_id=source,
        title=f"Harbour news {rank}",
        text=f"Intro {rank}. {sentence} Outro.",
        score=1.0 - rank / 10,
        language="en",
        location=f"¶ {rank}",
        highlight=sentence,
        chunk_id=f"{source}#{rank}",
    )


def answer(question: str = "When did the ship leave?", previous: tuple[str, ...] = ()) -> Answer:
    return Answer(question, True, [passage(n) for n in (1, 2, 3)], previous=previous)


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(DataFolder(tmp_path / "data").feedback)


def test_an_answer_is_remembered_with_what_it_showed(store: FeedbackStore) -> None:
    assert store.answer("1") is None and not store.exists()
    shown = answer(previous=("Which harbour?",))
    store.record_answer("1", shown, shown.passages[:2], server="9", channel="8", state={"library": "news"})
    again = FeedbackStore(store.path).answer("1")  # another process, or after a restart
    assert again is not None
    assert again.question == "When did the ship leave?" and again.previous == ("Which harbour?",)
    assert [(p.rank, p.source_id, p.passage_id, p.location) for p in again.passages] == [
        (1, "harbour.txt", "harbour.txt#1", "¶ 1"),
        (2, "harbour.txt", "harbour.txt#2", "¶ 2"),
    ]
    assert again.server == "9" and again.channel == "8" and again.thread is None
    assert again.state == {"answered": True, "library": "news"}
    assert again.shown(2).passage("full text").text == "full text"  # type: ignore[union-attr]


def test_one_vote_per_member_per_answer_which_they_may_change(store: FeedbackStore) -> None:
    store.record_answer("1", answer(), answer().passages)
    first = store.vote("1", USER, UP)
    assert first.vote == UP and first.gold is None
    changed = store.vote("1", USER, DOWN)
    picked = store.pick("1", USER, 3)
    assert changed.vote == DOWN and picked.vote == DOWN and picked.gold == 3
    assert picked.confirmed is not None and picked.confirmed.rank == 3
    store.vote("1", 42, UP)
    votes = store.votes()
    assert len(votes) == 2 and {v.vote for v in votes} == {UP, DOWN}
    # Back to 👍: the pick made with the 👎 no longer stands.
    assert store.vote("1", USER, UP).gold is None
    assert len(store.votes()) == 2


def test_members_are_kept_as_a_keyed_hash_never_their_id(store: FeedbackStore, tmp_path: Path) -> None:
    store.record_answer("1", answer(), answer().passages)
    vote = store.vote("1", USER, UP)
    assert str(USER) not in vote.user and vote.user == store.user_hash(USER) != store.user_hash(USER + 1)
    assert str(USER).encode() not in store.path.read_bytes()
    other = FeedbackStore(tmp_path / "other.sqlite3")
    other.record_answer("1", answer(), answer().passages)
    assert other.vote("1", USER, UP).user != vote.user  # a secret per database: no lookup table works


def test_unknown_answers_and_passages_are_refused(store: FeedbackStore) -> None:
    with pytest.raises(KeyError):
        store.vote("nope", USER, UP)
    store.record_answer("1", answer(), answer().passages[:2])
    with pytest.raises(KeyError):
        store.pick("1", USER, 3)  # only two were shown
    with pytest.raises(ValueError, match="vote"):
        store.vote("1", USER, 0)


def test_a_thread_s_conversation_is_the_questions_asked_in_it(store: FeedbackStore) -> None:
    first = answer("Which ship left first?")
    store.record_answer("100", first, first.passages, channel="5")
    assert store.conversation("100") is None  # no thread was started from it yet
    store.set_thread("100", "100")
    assert store.conversation("100") == ["Which ship left first?"]
    second = answer("And when?", previous=("Which ship left first?",))
    store.record_answer("101", second, second.passages, channel="100")
    assert store.conversation("100") == ["Which ship left first?", "And when?"]
    assert store.conversation("5") is None  # a channel, not a thread the bot started


def test_votes_since_a_date(store: FeedbackStore) -> None:
    store.record_answer("1", answer(), answer().passages)
    store.vote("1", USER, UP)
    assert len(store.votes(since=datetime.now(UTC) - timedelta(minutes=1))) == 1
    assert store.votes(since=datetime.now(UTC) + timedelta(minutes=1)) == []
    assert len(store.votes(since=datetime(2000, 1, 1))) == 1  # a naive date is UTC


def test_confirmed_answers_become_an_eval_question_set(store: FeedbackStore, tmp_path: Path) -> None:
    plain, follow = answer(), answer("And the second one?", previous=("When did the ship leave?",))
    unpicked = answer("Who is the harbour master?")
    for key, shown in (("1", plain), ("2", follow), ("3", unpicked)):
        store.record_answer(key, shown, shown.passages)
    store.vote("1", USER, UP)
    store.vote("1", 7, DOWN)
    store.pick("1", 7, 2)
    store.vote("2", USER, DOWN)
    store.pick("2", USER, 3)
    store.vote("3", USER, DOWN)  # 👎 without a pick: confirms nothing
    lines = as_eval(store.votes())
    assert lines == [
        {
            "id": "feedback-1",
            "q": "When did the ship leave?",
            "docs": ["harbour.txt"],
            "answer": [
                "The harbour master said ship 1 left at dawn.",
                "The harbour master said ship 2 left at dawn.",
            ],
        },
        {
            "id": "feedback-2",
            "q": "And the second one?",
            "docs": ["harbour.txt"],
            "answer": ["The harbour master said ship 3 left at dawn."],
            "previous": ["When did the ship leave?"],
        },
    ]
    path = tmp_path / "regression.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    questions = load_questions(path)  # what `citebot eval` reads
    assert questions[1].previous == ("When did the ship leave?",) and questions[0].docs == ("harbour.txt",)


def test_the_export_names_every_field_an_operator_needs(store: FeedbackStore) -> None:
    follow = answer("And the second one?", previous=("When did the ship leave?",))
    store.record_answer("2", follow, follow.passages, server="77")
    store.pick("2", USER, 2)
    exported = store.votes()[0].to_json()
    assert set(exported) == {
        "answer", "question", "previous", "vote", "gold", "passages", "server", "user", "time", "answered_at",
    }  # fmt: skip
    assert exported["vote"] == "down" and exported["server"] == "77"
    assert exported["gold"] == {
        "rank": 2,
        "source_id": "harbour.txt",
        "passage_id": "harbour.txt#2",
        "location": "¶ 2",
    }
    assert exported["passages"][0] == {  # type: ignore[index]
        "rank": 1, "source_id": "harbour.txt", "passage_id": "harbour.txt#1", "location": "¶ 1",
    }  # fmt: skip
    json.dumps(exported)


def test_votes_from_many_threads_at_once_are_all_kept(store: FeedbackStore) -> None:
    store.record_answer("1", answer(), answer().passages)

    def cast(user: int) -> None:
        for n in range(5):
            store.vote("1", user, UP if n % 2 else DOWN)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(cast, range(16)))
    votes = store.votes()
    assert len(votes) == 16 and {v.vote for v in votes} == {DOWN}


def test_a_removed_database_is_made_again(store: FeedbackStore) -> None:
    store.record_answer("1", answer(), answer().passages)
    store.path.unlink()
    assert store.answer("1") is None
    store.record_answer("2", answer(), answer().passages)
    assert store.answer("2") is not None
