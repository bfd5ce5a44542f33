"""The reply builders: Discord's limits, clean truncation, inert mentions, i18n."""

from __future__ import annotations

import re
from dataclasses import replace

import discord
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cogs.ask import looked_up
from bot.errors import user_message
from bot.i18n import COMMAND_TEXT_FR, STRINGS, for_message, french_spacing, language_of, t
from bot.replies import (
    CONTENT_LIMIT,
    ELLIPSIS,
    FIELD_VALUE_LIMIT,
    SOURCES_PER_PAGE,
    announcement,
    answer_embed,
    byline,
    citation,
    clip,
    clip_start,
    embed_violations,
    full_passage_embed,
    message_text,
    neutralise,
    passages_embed,
    safe,
    snippet,
    source_embed,
    sources_embed,
)
from bot.service import IndexFacts
from retrieval.dates import parse_range
from retrieval.errors import QuestionError
from retrieval.models import Answer, Passage, SourceInfo
from retrieval.service import clean_question

FACTS = IndexFacts(articles=4, passages=37, last_indexed="2026-11-26T09:40:00+00:00")
MENTION_TEXT = st.sampled_from(
    [
        "@everyone",
        "@here",
        "<@&123456789012345678>",
        "<@!42>",
        "<@42>",
        "<#42>",
        "*",
        "_",
        "`",
        "\\",
        "~~",
        "||",
        "> ",
    ]
)
TEXT = st.lists(st.one_of(st.text(min_size=0, max_size=80), MENTION_TEXT), max_size=80).map("".join)
RAW_MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>")


def passage(
    rank: int,
    text: str,
    highlight: str = "",
    title: str = "A title",
    source: str = "a.txt",
    **citation: str | None,
) -> Passage:
    return Passage(
        rank=rank,
        source=source,
        source_id=source,
        title=title,
        text=text,
        score=1.0,
        language="en",
        location="¶ 1–2",
        highlight=highlight,
        **citation,  # type: ignore[arg-type]
    )


URLS = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.builds(lambda path: "https://www.example.org/" + path, TEXT),
    st.just("https://example.org/a_(b)?q=@everyone&x=<@&1>"),
    st.just("http://x.example/" + "long/" * 600),
)
DATES = st.one_of(
    st.none(), st.text(max_size=30), st.just("2020-02-12"), st.just("2020-02-12T09:30:00+01:00")
)


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    n = draw(st.integers(0, 25))
    passages = []
    for rank in range(1, n + 1):
        text = draw(TEXT)
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, len(text)))
        citation = {
            "url": draw(URLS),
            "published": draw(DATES),
            "author": draw(st.one_of(st.none(), TEXT)),
            "site": draw(st.one_of(st.none(), TEXT)),
        }
        passages.append(
            passage(rank, text, text[start:end], title=draw(TEXT), source=draw(TEXT) or "x.txt", **citation)
        )
    return Answer(question=draw(TEXT) or "q", answered=draw(st.booleans()), passages=passages)


@settings(max_examples=150, deadline=None)
@given(answers(), st.sampled_from(["en", "fr"]))
def test_any_answer_fits_discord_and_pings_no_one(answer: Answer, language: str) -> None:
    embed = answer_embed(answer, FACTS, language)
    assert embed_violations(embed) == []
    assert not RAW_MENTION.search(str(embed.to_dict()))
    for p in answer.passages:
        full = full_passage_embed(p, language)
        assert embed_violations(full) == []
        assert not RAW_MENTION.search(str(full.to_dict()))
        assert full.url is None or (full.url.startswith(("http://", "https://")) and len(full.url) <= 2048)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000), st.integers(1, 3000))
def test_clip_respects_the_limit_and_marks_the_cut(text: str, limit: int) -> None:
    out = clip(text, limit)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text
    else:
        assert out.endswith(ELLIPSIS) and not out[:-1].endswith("\\")


@settings(max_examples=200, deadline=None)
@given(st.one_of(TEXT, st.text(alphabet="*_~|`\\ x", max_size=400)), st.integers(1, 400))
def test_clip_start_keeps_the_end_with_its_escapes_and_marks_the_cut(text: str, limit: int) -> None:
    source = safe(text)
    out = clip_start(source, limit)
    assert len(out) <= limit
    if len(source) <= limit:
        assert out == source
        return
    assert out.startswith(ELLIPSIS)
    kept = out[len(ELLIPSIS) :]
    assert source.endswith(kept)
    # A character whose escape backslash was cut off would be markdown again.
    cut_off = source[: len(source) - len(kept)]
    assert (len(cut_off) - len(cut_off.rstrip("\\"))) % 2 == 0


def test_a_cut_through_escaped_stars_leaves_no_bare_star_before_the_bold_sentence() -> None:
    text = "x" * 30 + " " + "*" * 200 + " The key claim. " + "y " * 300
    for limit in range(90, 140):
        out = snippet(passage(1, text, "The key claim."), limit)
        before = out.split("**The key claim.**")[0]
        assert before.startswith(ELLIPSIS) and before[len(ELLIPSIS) :].startswith(("\\", " ")), out


@settings(max_examples=200, deadline=None)
@given(TEXT, st.integers(8, 1024), st.data())
def test_snippet_fits_and_keeps_the_bold_sentence_balanced(
    text: str, limit: int, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    highlight = text[start:end]
    out = snippet(passage(1, text, highlight), limit)
    assert len(out) <= limit
    assert not RAW_MENTION.search(out)
    if highlight.strip() and limit >= 64:
        assert out.count("**") >= 2  # opened and closed


def test_the_best_sentence_is_bold_and_the_rest_kept() -> None:
    text = "First sentence here. The key claim is this one. Last sentence."
    assert snippet(passage(1, text, "The key claim is this one."), 1024) == (
        "First sentence here. **The key claim is this one.** Last sentence."
    )


def test_a_long_passage_is_cut_around_its_bold_sentence() -> None:
    text = "word " * 400 + "The key claim is this one. " + "tail " * 400
    out = snippet(passage(1, text, "The key claim is this one."), 300)
    assert len(out) <= 300 and "**The key claim is this one.**" in out
    assert out.startswith(ELLIPSIS) and out.endswith(ELLIPSIS)


def test_neutralise_makes_every_mention_inert_and_keeps_the_text_readable() -> None:
    text = "@everyone @here <@&1234> <@99> <@!99> <#5> mail@example.org"
    out = neutralise(text)
    assert not RAW_MENTION.search(out)
    assert out.replace("\u200b", "") == text


def test_citation_format() -> None:
    assert citation(passage(3, "t", title="Title", source="b.txt")) == "[3] Title — b.txt, ¶ 1–2"
    assert citation(passage(2, "t"), label="closest") == "[2, closest] A title — a.txt, ¶ 1–2"


NEWS = {
    "url": "https://www.lemonde.fr/planete/article/2020/02/12/a_(b).html?at=@everyone",
    "published": "2020-02-12",
    "author": "Jane *Doe*",
    "site": "Le Monde",
}


def test_a_news_citation_names_the_outlet_and_puts_date_and_link_first_in_the_value() -> None:
    cited = passage(1, "Body text. The key claim.", "The key claim.", title="Floods in Paris", **NEWS)
    assert citation(cited) == "[1] Floods in Paris — Le Monde, ¶ 1–2"
    embed = answer_embed(Answer("q", True, [cited]), FACTS, "en")
    line, text = (embed.fields[0].value or "").split("\n", 1)
    # Noon UTC of the day: the same calendar day in every member's time zone and language.
    assert line == (
        "<t:1581508800:D> · Jane \\*Doe\\* · "
        "[lemonde.fr](https://www.lemonde.fr/planete/article/2020/02/12/a_%28b%29.html?at=%40everyone)"
    )
    assert text == "Body text. **The key claim.**"
    full = full_passage_embed(cited, "fr")
    assert full.url == "https://www.lemonde.fr/planete/article/2020/02/12/a_%28b%29.html?at=%40everyone"
    assert (full.description or "").startswith(
        "<t:1581508800:D> · "
    ) and full.footer.text == "Le Monde, ¶ 1–2"
    moment = passage(1, "x", published="2020-02-12T23:30:00-05:00")
    assert byline(moment, 100) == "<t:1581568200:D>"  # a time is the moment, in the reader's zone
    assert byline(passage(1, "x", url="javascript:alert(1)", published="soon"), 100) == ""


@settings(max_examples=150, deadline=None)
@given(URLS, DATES, st.one_of(st.none(), TEXT), st.integers(0, 700))
def test_a_byline_fits_and_its_link_is_whole(
    url: str | None, published: str | None, author: str | None, limit: int
) -> None:
    line = byline(passage(1, "x", url=url, published=published, author=author), limit)
    assert len(line) <= limit and not RAW_MENTION.search(line)
    links = re.findall(r"\[[^\]]*\]\((https?://[^()\s<>@]+)\)", line)
    assert len(links) == line.count("](https://") + line.count("](http://") <= 1


def test_a_byline_that_does_not_fit_drops_the_author_then_the_link_never_half_a_link() -> None:
    cited = passage(1, "x", **NEWS)
    whole = byline(cited, 1000)
    assert byline(cited, len(whole)) == whole
    without_author = byline(cited, len(whole) - 1)
    assert "Jane" not in without_author and without_author.endswith("%40everyone)")
    assert byline(cited, len(without_author) - 1) == "<t:1581508800:D>"
    assert byline(cited, 10) == ""


def test_sources_show_date_and_outlet_and_source_shows_author_and_link() -> None:
    info = SourceInfo("lemonde.html", "Floods in Paris", "fr", 3, "2026-11-26T09:40:00+00:00", **NEWS)
    value = sources_embed([info], 0, "en").fields[0].value or ""
    assert value.splitlines()[:2] == ["`lemonde.html`", "<t:1581508800:D> · Le Monde"]
    own = replace(info, library="guild-1")  # a server's own copy is told from the base's
    assert (sources_embed([own], 0, "fr").fields[0].value or "").startswith(
        "`lemonde.html` · ajouté dans ce serveur"
    )
    detail = source_embed(info, "fr")
    fields = {f.name: f.value for f in detail.fields}
    assert fields["Média"] == "Le Monde" and fields["Publié"] == "<t:1581508800:D>"
    assert (
        fields["Auteur"] == "Jane \\*Doe\\*"
        and detail.url
        and detail.url.startswith("https://www.lemonde.fr/")
    )
    assert embed_violations(detail) == []


def test_an_announcement_is_short_inert_and_never_cuts_its_link() -> None:
    info = SourceInfo("a.html", "Floods @everyone in <@&12> Paris", "en", 3, "", **NEWS)
    text = announcement(info, "fr")
    assert text == (
        "Nouveau\u00a0: **Floods @\u200beveryone in <@&\u200b12> Paris** "
        "(<https://www.lemonde.fr/planete/article/2020/02/12/a_%28b%29.html?at=%40everyone>) — "
        "Le Monde, <t:1581508800:D>"
    )
    bare = announcement(SourceInfo("b.txt", "", "en", 1, ""), "en")
    assert bare == "New: **b.txt**"
    huge = announcement(SourceInfo("c", "t " * 900, "en", 1, "", url="https://x.example/" + "p" * 1900), "en")
    assert len(huge) <= CONTENT_LIMIT and "https://" not in huge


@settings(max_examples=100, deadline=None)
@given(TEXT, URLS, DATES, st.one_of(st.none(), TEXT), st.sampled_from(["en", "fr"]))
def test_any_announcement_fits_and_pings_no_one(
    title: str, url: str | None, published: str | None, site: str | None, language: str
) -> None:
    text = announcement(
        SourceInfo("x", title, "en", 1, "", url=url, published=published, site=site), language
    )
    assert 0 < len(text) <= CONTENT_LIMIT and not RAW_MENTION.search(text)


def test_twenty_five_maximal_passages_share_the_6000_budget() -> None:
    long = "x" * 5000
    answer = Answer(
        "q" * 5000,
        True,
        [passage(i, long, long[:2000], title="t" * 500, source="s" * 500) for i in range(1, 26)],
    )
    embed = answer_embed(answer, FACTS, "en")
    assert embed_violations(embed) == [] and len(embed.fields) == 25
    assert all(len(f.value or "") <= FIELD_VALUE_LIMIT for f in embed.fields)


def test_not_answered_offers_three_labelled_closest_passages() -> None:
    answer = Answer("q", False, [passage(i, f"text {i}") for i in range(1, 6)])
    embed = answer_embed(answer, FACTS, "en")
    assert embed.description and embed.description.startswith("I found nothing")
    assert [f.name.split("]")[0] for f in embed.fields] == ["[1, closest", "[2, closest", "[3, closest"]
    assert answer_embed(answer, FACTS, "fr").description.startswith("Je n’ai rien trouvé")  # type: ignore[union-attr]


def test_closest_passages_of_an_unanswered_question_show_the_text_around_their_sentence_unmarked() -> None:
    text = "word " * 400 + "The closest sentence. " + "tail " * 400
    passages = [passage(i, text, "The closest sentence.") for i in range(1, 4)]
    declined = answer_embed(Answer("q", False, passages), FACTS, "en")
    answered = answer_embed(Answer("q", True, passages), FACTS, "en")
    assert all(
        "**" not in (f.value or "") and "The closest sentence." in (f.value or "") for f in declined.fields
    )
    assert all("**The closest sentence.**" in (f.value or "") for f in answered.fields)
    assert full_passage_embed(passages[0], "en", bold=False).description.count("**") == 0  # type: ignore[union-attr]
    assert "**The closest sentence.**" in (full_passage_embed(passages[0], "en").description or "")


@settings(max_examples=100, deadline=None)
@given(TEXT, st.integers(8, 1024), st.data())
def test_an_unmarked_snippet_fits_and_holds_the_sentence_when_there_is_room(
    text: str, limit: int, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, len(text)))
    highlight = text[start : data.draw(st.integers(start, len(text)))]
    out = snippet(passage(1, text, highlight), limit, bold=False)
    assert len(out) <= limit and not RAW_MENTION.search(out)
    if highlight.strip() and len(text) <= limit // 2 and not re.search(r"[^\w .,]", text):  # nothing escaped
        assert highlight.strip() in out


def test_empty_index_answer() -> None:
    embed = answer_embed(Answer("q", False, []), FACTS, "en")
    assert embed.description == t("en", "no_passages") and not embed.fields


def test_footer_carries_index_facts() -> None:
    embed = answer_embed(Answer("q", True, [passage(1, "a")]), FACTS, "en")
    assert embed.footer.text and embed.footer.text.startswith(
        "4 articles · 37 passages · last indexed 2026-11-26 09:40 UTC"
    )


def test_french_footers_and_sources_write_the_date_in_french() -> None:
    embed = answer_embed(Answer("q", True, [passage(1, "a")]), FACTS, "fr")
    assert embed.footer.text and embed.footer.text.startswith(
        "4 articles · 37 passages · indexé le 26 novembre 2026 à 09:40 UTC · "
    )
    info = SourceInfo("a.txt", "A", "fr", 1, "2026-12-01T23:30:00-01:00")  # the 2nd, in UTC
    assert (sources_embed([info], 0, "fr").fields[0].value or "").endswith(
        "indexé le 2 décembre 2026 à 00:30 UTC"
    )
    assert {
        f.name: f.value for f in source_embed(replace(info, indexed_at="2026-02-01T08:05:00"), "fr").fields
    }["Indexé"] == "1er février 2026 à 08:05 UTC"
    assert (sources_embed([info], 0, "en").fields[0].value or "").endswith("indexed 2026-12-02 00:30 UTC")


def test_sources_are_paginated() -> None:
    sources = [
        SourceInfo(f"{i:03}.txt", f"Title {i}", "en", i, "2026-11-26T09:40:00+00:00") for i in range(20)
    ]
    first, last = sources_embed(sources, 0, "en"), sources_embed(sources, 2, "fr")
    assert len(first.fields) == SOURCES_PER_PAGE and first.footer.text == "Page 1 of 3"
    assert len(last.fields) == 20 - 2 * SOURCES_PER_PAGE and last.footer.text == "Page 3 sur 3"
    assert sources_embed(sources, 99, "en").footer.text == "Page 3 of 3"
    assert sources_embed([], 0, "en").description == "No article is indexed yet."


def test_message_text_is_bounded_and_inert() -> None:
    out = message_text("@everyone " * 500)
    assert len(out) <= CONTENT_LIMIT and "@everyone" not in out


def test_passages_embed_without_passages_or_footer() -> None:
    embed = passages_embed("t", "", [], "")
    assert embed.to_dict().get("fields") is None and embed_violations(embed) == []


def test_every_french_string_has_the_english_placeholders() -> None:
    for key, english in STRINGS["en"].items():
        french = STRINGS["fr"].get(key)
        assert french is not None, key
        assert set(re.findall(r"\{(\w+)", french)) == set(re.findall(r"\{(\w+)", english)), key


def test_french_messages_keep_their_signs_on_the_line_of_the_word_before() -> None:
    for key, template in STRINGS["fr"].items():
        values = {name: 2 for name in re.findall(r"\{(\w+)", template)}
        text = t("fr", key, **values)
        assert not re.search(r" [:;?!»]|« ", text), key
    assert t("fr", "closest").endswith("peut-être pas\u00a0:")
    assert t("fr", "mention_help").startswith("Posez une question après la mention, p. ex. «\u00a0@citebot")
    assert (
        t("fr", "more_title", question="et alors ?") == "Plus de passages pour\u00a0: et alors ?"
    )  # as asked
    assert (
        french_spacing(COMMAND_TEXT_FR["The feed's address (RSS or Atom)"])
        == "L’adresse du flux (RSS ou Atom)"
    )


def test_a_count_takes_the_number_its_word_has_in_each_language() -> None:
    assert t("en", "source_line", lang="en", chunks=1, indexed="today") == "en · 1 passage · indexed today"
    assert t("en", "source_line", lang="en", chunks=0, indexed="today").startswith("en · 0 passages")
    assert t("fr", "source_line", lang="fr", chunks=0, indexed="hier").startswith("fr · 0 passage ·")
    counts = {"added": 1, "changed": 0, "removed": 2, "unchanged": 1, "embedded": 3, "seconds": 1.0}
    assert t("fr", "reindex_done", **counts).startswith(
        "Réindexé\u00a0: 1 ajouté, 0 modifié, 2 supprimés, 1 inchangé (3 passages vectorisés"
    )
    assert t("en", "reindex_done", **counts).startswith("Reindexed: 1 added, 0 changed, 2 removed")
    assert t("en", "footer", articles=1, passages=1, indexed="x").startswith("1 article · 1 passage ·")
    assert t("de", "source_line", lang="de", chunks=0, indexed="x").startswith("de · 0 passages")  # English
    for language, strings in STRINGS.items():  # each count names its two forms
        for key, template in strings.items():
            for spec in re.findall(r"\{\w+:n:([^}]*)\}", template):
                assert spec.count("|") == 1, (language, key)


def test_numbers_are_written_as_each_language_writes_them() -> None:
    assert t("fr", "add_too_large", size=2_500_000, limit=2_000_000) == (
        "Ce fichier est trop gros (2\u202f500\u202f000 octets\u00a0; la limite est 2\u202f000\u202f000)."
    )
    assert t("en", "add_too_large", size=2_500_000, limit=2_000_000).startswith(
        "That file is too large (2,500,000"
    )
    counts = {"added": 1, "changed": 0, "removed": 0, "unchanged": 1500, "embedded": 3, "seconds": 2.54}
    assert t("fr", "reindex_done", **counts).endswith(
        "1\u202f500 inchangés (3 passages vectorisés en 2,5 s)."
    )
    assert t("en", "reindex_done", **counts).endswith("1,500 unchanged (3 passages embedded in 2.5 s).")
    assert t("fr", "feed_added", title="t", url="u", items=3, minutes=0.5).endswith("toutes les 0,5 minutes.")


def test_locale_picks_the_language() -> None:
    assert language_of(discord.Locale.french) == "fr"
    assert language_of("fr-CA") == "fr"
    assert language_of(discord.Locale.american_english) == "en"
    assert language_of(None) == "en" and language_of(discord.Locale.german) == "en"


def test_a_message_is_answered_in_its_questions_language_else_the_servers() -> None:
    # A mention carries no member locale, and most servers' own locale is en-US.
    assert for_message("Qui soutient Palantir ?", discord.Locale.american_english) == "fr"
    assert for_message("who supports Palantir?", discord.Locale.french) == "en"
    assert for_message("Palantir ICE", discord.Locale.french) == "fr"  # no telling: the server's
    # English names outweigh the few French words, but no English question writes these:
    assert for_message("qu’exigeait No Music for ICE ?", None) == "fr"
    assert for_message("Palantir for ICE ?", None) == "fr"
    assert for_message("Palantir's ICE deal, I'm told?", discord.Locale.german) == "en"
    assert for_message("", None) == "en"


def test_a_message_looked_up_loses_its_mentions_and_is_cut_at_a_word_to_fit() -> None:
    assert looked_up("<@123> <@&456> ferry crews strike <@!789>", 1000) == "ferry crews strike"
    assert looked_up("ferry strike <:angry:123456> see <#987654> <a:boat:42>", 1000) == "ferry strike see"
    post = "The ferry crews of the Hebrides walked out " * 40  # 1,720 characters
    question = looked_up(post, 1000)
    assert len(question) <= 1000 and post.startswith(question) and post[len(question)] == " "
    assert looked_up("x" * 1500, 1000) == "x" * 1000  # one long word: cut where it must be


@given(st.text(max_size=3000), st.integers(min_value=1, max_value=2000))
@settings(max_examples=200, deadline=None)
def test_a_looked_up_message_always_fits(text: str, limit: int) -> None:
    assert len(looked_up(text, limit)) <= limit


@pytest.mark.parametrize(
    ("since", "until", "question", "french"),
    [
        ("la veille", None, "q", "`since:` n’est pas une date : « la veille »."),
        (
            "2020-02-12",
            "2020-01-01",
            "q",
            "Aucune date dans cet intervalle : since (2020-02-12T00:00:00+00:00)",
        ),
        ("99999y", None, "q", "99999y, c’est trop loin."),
        (None, None, "?!", "La question est vide : posez-la avec des mots."),
        (None, None, "x " * 700, "La question est trop longue (1"),
    ],
)
def test_a_refused_question_or_date_is_explained_in_the_members_language(
    since: str | None, until: str | None, question: str, french: str
) -> None:
    with pytest.raises(QuestionError) as refused:
        parse_range(since, until)
        clean_question(question, 1000)
    assert user_message(refused.value, "fr")[0].startswith(french_spacing(french))
    english = user_message(refused.value, "en")[0]
    assert english.split()[0] in {"`since:`", "No", "99999y", "The"}, english
