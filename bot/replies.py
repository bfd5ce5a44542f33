"""Pure functions that turn answers and sources into Discord embeds within Discord's limits.

Nothing here talks to Discord or the index, so every rule (limits, clean truncation,
mention neutralising, markdown escaping) is unit- and property-tested directly.

Discord's limits: message content 2000 characters; embed title 256, description 4096,
field name 256, field value 1024, footer 2048, 25 fields, and 6000 characters for all
embeds of one message together.

A news citation is ``[n] Title — Outlet, place`` in the field name (names render plain
text only) and, first in the field's value, the publication date as a Discord timestamp
(``<t:UNIX:D>``: each member's client shows it in their own language and time zone) and
a link to the article.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import discord
from discord.utils import escape_markdown

from bot.i18n import t
from retrieval.dates import display_stamp
from retrieval.layout import BASE_LIBRARY
from retrieval.models import Answer, Passage, SourceInfo

if TYPE_CHECKING:
    from bot.service import IndexFacts

CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
FIELDS_LIMIT = 25
EMBED_TOTAL_LIMIT = 6000
#: The longest address a citation links to (Discord refuses an embed ``url`` beyond 2048).
URL_LIMIT = 2000
#: Slack kept under the 6000 total so rounding never tips a message over.
TOTAL_MARGIN = 16
ELLIPSIS = "…"
SOURCES_PER_PAGE = 8
#: At most this many "closest passages" when nothing answered the question.
CLOSEST_SHOWN = 3

#: The months in a French date ("7 décembre 2026").
FRENCH_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip

_ZWSP = "\u200b"
# @everyone / @here, and raw user, role and channel mention syntax (<@1>, <@!1>, <@&1>, <#1>).
_MASS_MENTION = re.compile(r"@(everyone|here)", re.IGNORECASE)
_RAW_MENTION = re.compile(r"<(@[!&]?|#)(\d+)>")


def neutralise(text: str) -> str:
    """``text`` with every mention made inert: a zero-width space after ``@`` or ``<@&``.

    AllowedMentions.none() already stops pings; this keeps quoted article text and
    questions from even *looking* like a mass ping or a role mention.
    """
    text = _MASS_MENTION.sub(lambda m: "@" + _ZWSP + m.group(1), text)
    return _RAW_MENTION.sub(lambda m: "<" + m.group(1) + _ZWSP + m.group(2) + ">", text)


def safe(text: str) -> str:
    """Untrusted text (article, question) ready to put in markdown: mentions inert, markdown escaped."""
    return escape_markdown(neutralise(text))


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a word boundary when one is near, with "…".

    Never leaves a dangling escape backslash or a half surrogate-free mention marker.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit == 1:
        return ELLIPSIS
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= len(cut) - 20 and space > 0:
        cut = cut[:space]
    cut = cut.rstrip()
    # A trailing backslash would escape the ellipsis or break the closing "**".
    while cut.endswith("\\"):
        cut = cut[:-1]
    return cut + ELLIPSIS


def clip_start(text: str, limit: int) -> str:
    """The end of ``text`` in at most ``limit`` characters, "…" in front when cut, at a word
    boundary when one is near; never starts on a character whose escape backslash was cut off."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit == 1:
        return ELLIPSIS
    start = len(text) - (limit - 1)
    head = text[:start]
    if (len(head) - len(head.rstrip("\\"))) % 2:
        start += 1  # the cut would drop an escape backslash and free the character it escaped
    cut = text[start:]
    space = cut.find(" ")
    if 0 <= space < 20:
        cut = cut[space:]
    return ELLIPSIS + cut.lstrip()


def snippet(passage: Passage, limit: int, bold: bool = True) -> str:
    """The passage as markdown within ``limit`` characters, its best sentence in bold
    (plain when not ``bold``: the closest sentence of a question left unanswered is no
    answer, but the text shown is still the text around it).

    When it must be cut, the best sentence is kept and the text around it trimmed.
    """
    text = passage.text
    highlight = passage.highlight.strip()
    at = text.find(highlight) if highlight else -1
    if at < 0:
        return clip(safe(text), limit)
    mark = "**" if bold else ""
    marks = 2 * len(mark)
    before = safe(text[:at])
    best = safe(highlight)
    after = safe(text[at + len(highlight) :])
    if len(before) + len(best) + len(after) + marks <= limit:
        return _joined(f"{before}{mark}{best}{mark}{after}", limit, bold)
    best = clip(best, max(1, min(len(best), limit * 2 // 3 - marks)))
    room = limit - len(best) - marks
    if room <= 0:
        return _joined(
            clip(f"{mark}{best}{mark}", limit) if len(best) + marks > limit else f"{mark}{best}{mark}",
            limit,
            bold,
        )
    before_room = min(len(before), room // 2)
    after_room = room - before_room
    if len(after) < after_room:
        before_room = min(len(before), room - len(after))
        after_room = room - before_room
    out = f"{clip_start(before, before_room)}{mark}{best}{mark}{clip(after, after_room)}"
    return _joined(out, limit, bold)


def _joined(out: str, limit: int, bold: bool) -> str:
    """``out`` made of pieces neutralised apart: with no bold marks between them, a
    mention may span two (``@`` and ``everyone``), so it is neutralised whole again."""
    if not bold:
        out = neutralise(out)
        return clip(out, limit) if len(out) > limit else out
    return out[:limit]


def citation(passage: Passage, label: str | None = None) -> str:
    """``[n] title — outlet, place``: how every passage is cited (a field name, so plain
    text: no link, no timestamp). The outlet is the site the article names, else its
    source (the file name, or the URL)."""
    head = f"[{passage.rank}]" if label is None else f"[{passage.rank}, {label}]"
    place = f", {passage.location}" if passage.location else ""
    where = passage.site or passage.source
    return clip(neutralise(f"{head} {passage.title} — {where}{place}"), FIELD_NAME_LIMIT)


def link_target(url: str | None) -> str | None:
    """``url`` safe inside a markdown link and an embed's ``url``: http(s) only, no user
    part, and the characters that would end the link, ping or break markdown
    (``( ) < > @ `` spaces...) percent-encoded; None when it is not a web address."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return None
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    safe_chars = "/?#[]!$&'*+,;=%~-._:"
    rebuilt = f"{parts.scheme.lower()}://{quote(host, safe='.-:[]')}{quote(parts.path, safe=safe_chars)}"
    if parts.query:
        rebuilt += "?" + quote(parts.query, safe=safe_chars)
    return rebuilt if len(rebuilt) <= URL_LIMIT else None


def _link(url: str | None) -> str:
    """``[host](url)``: the article's address as a short link; "" without one."""
    target = link_target(url)
    if target is None:
        return ""
    host = (urlsplit(target).hostname or "").removeprefix("www.")
    return f"[{safe(host) or '↗'}]({target})"


def _timestamp(published: str | None) -> str:
    """A Discord timestamp of the publication day (``<t:...:D>``), which every member's
    client shows in their own language and time zone; "" when unknown."""
    stamp = display_stamp(published)
    return f"<t:{stamp}:D>" if stamp is not None else ""


def byline(passage: Passage | SourceInfo, limit: int) -> str:
    """The line under a citation: ``<t:...:D> · author · [host](url)``, within ``limit``
    characters (the author goes first when it does not fit, then the link, then the
    date: never half a link); "" when the article gives none of them."""
    parts = [_timestamp(passage.published), safe(clip(passage.author or "", 80)), _link(passage.url)]
    for drop in (None, 1, 2, 0):
        if drop is not None:
            parts[drop] = ""
        line = " · ".join(part for part in parts if part)
        if len(line) <= limit:
            return line
    return ""


def _when(iso: str, language: str = "en") -> str:
    """An ISO timestamp as ``2026-11-26 09:40 UTC``, in French ``26 novembre 2026 à 09:40 UTC``
    (footers do not render Discord timestamps)."""
    if not iso:
        return "?"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return "?"  # not ours to show: a manifest edited by hand
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    if language == "fr":
        day = "1er" if moment.day == 1 else str(moment.day)
        return f"{day} {FRENCH_MONTHS[moment.month - 1]} {moment.year} à {moment:%H:%M} UTC"
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def footer_text(facts: IndexFacts, language: str) -> str:
    return clip(
        t(
            language,
            "footer",
            articles=facts.articles,
            passages=facts.passages,
            indexed=_when(facts.last_indexed, language),
        ),
        FOOTER_LIMIT,
    )


def passages_embed(
    title: str,
    description: str,
    passages: list[Passage],
    footer: str,
    label: str | None = None,
    colour: discord.Colour | None = None,
    bold: bool = True,
) -> discord.Embed:
    """An embed of cited passages, one field each, sharing the 6000-character budget fairly;
    each passage's best sentence in bold unless not ``bold`` (see :func:`snippet`)."""
    title = clip(title, TITLE_LIMIT)
    description = clip(description, DESCRIPTION_LIMIT)
    footer = clip(footer, FOOTER_LIMIT)
    passages = passages[:FIELDS_LIMIT]
    available = EMBED_TOTAL_LIMIT - TOTAL_MARGIN - len(title) - len(description) - len(footer)
    # Each field gets an equal share; a citation may take a third of it (25 full-length
    # citations alone would exceed the 6000 total), the passage the rest.
    share = available // max(1, len(passages))
    names = [clip(citation(p, label), max(16, share // 3)) for p in passages]
    budget = available - sum(map(len, names))
    embed = discord.Embed(title=title, description=description, colour=colour)
    if passages:
        per_field = max(1, min(FIELD_VALUE_LIMIT, budget // len(passages)))
        for name, passage in zip(names, passages, strict=True):
            # The date and link go first in the value: field names cannot hold either.
            line = byline(passage, per_field // 2)
            text = snippet(passage, per_field - len(line) - 1 if line else per_field, bold) or ELLIPSIS
            embed.add_field(name=name, value=f"{line}\n{text}" if line else text, inline=False)
    if footer:
        embed.set_footer(text=footer)
    return embed


def answer_embed(answer: Answer, facts: IndexFacts, language: str, dated: bool = False) -> discord.Embed:
    """The reply to a question: the question, numbered citations, a footer with index facts.

    When nothing answered the question it says so first, and the few closest passages
    that follow are labelled as such. ``dated``: the search was limited to a date range
    (so no passage at all means none in that range, not an empty index).
    """
    title = neutralise(answer.question)
    footer = footer_text(facts, language)
    if not answer.passages:
        empty = t(language, "no_passages_dated" if dated else "no_passages")
        return passages_embed(title, empty, [], footer, colour=discord.Colour.light_grey())
    if answer.answered:
        return passages_embed(
            title, t(language, "answered"), answer.passages, footer, colour=discord.Colour.blue()
        )
    description = f"{t(language, 'not_answered')}\n{t(language, 'closest')}"
    return passages_embed(
        title,
        description,
        answer.passages[:CLOSEST_SHOWN],
        footer,
        label=t(language, "closest_label"),
        colour=discord.Colour.orange(),
        bold=False,
    )


def full_passage_embed(passage: Passage, language: str, bold: bool = True) -> discord.Embed:
    """One passage in full (as far as 4096 characters go), its best sentence in bold
    unless not ``bold`` (see :func:`snippet`)."""
    title = clip(neutralise(f"[{passage.rank}] {passage.title}"), TITLE_LIMIT)
    where = passage.site or passage.source
    source = clip(neutralise(where + (f", {passage.location}" if passage.location else "")), FOOTER_LIMIT)
    line = byline(passage, 600)
    text = snippet(passage, DESCRIPTION_LIMIT - len(line) - 2 if line else DESCRIPTION_LIMIT, bold)
    embed = discord.Embed(
        title=title,
        description=f"{line}\n\n{text}" if line else text,
        colour=discord.Colour.blue(),
        url=link_target(passage.url),
    )
    embed.set_footer(text=source)
    return embed


def page_count(total: int, per_page: int = SOURCES_PER_PAGE) -> int:
    return max(1, math.ceil(total / per_page))


def sources_embed(sources: list[SourceInfo], page: int, language: str) -> discord.Embed:
    """One page of the indexed articles: title, language, passages, when indexed."""
    pages = page_count(len(sources))
    page = min(max(page, 0), pages - 1)
    embed = discord.Embed(
        title=t(language, "sources_title", count=len(sources)), colour=discord.Colour.blue()
    )
    if not sources:
        embed.description = t(language, "sources_empty")
        return embed
    for info in sources[page * SOURCES_PER_PAGE : (page + 1) * SOURCES_PER_PAGE]:
        # Each field stays under ~650 characters, so a page of 8 fits the 6000 of an embed
        # whatever the titles, names, URLs and languages (metadata files can say anything).
        line = t(
            language,
            "source_line",
            lang=_language(info),
            chunks=info.chunks,
            indexed=_when(info.indexed_at, language),
        )
        value = f"`{clip(neutralise(info.source_id), 150)}`"
        if info.library != BASE_LIBRARY:  # beside the base's articles, a name may be in both
            value += f" · {t(language, 'source_own')}"
        published = " · ".join(p for p in (_timestamp(info.published), clip(safe(info.site or ""), 100)) if p)
        if published:
            value += f"\n{published}"
        value += f"\n{line}"
        if info.url:
            value += f"\n{clip(neutralise(info.url), 250)}"
        embed.add_field(name=clip(_title(info), 150), value=clip(value, FIELD_VALUE_LIMIT), inline=False)
    embed.set_footer(text=t(language, "page", page=page + 1, pages=pages))
    return embed


def source_embed(info: SourceInfo, language: str) -> discord.Embed:
    """One article's details: its outlet, date, byline and link when it has them."""
    embed = discord.Embed(
        title=clip(_title(info), TITLE_LIMIT), colour=discord.Colour.blue(), url=link_target(info.url)
    )
    embed.add_field(
        name=t(language, "field_id"), value=clip(f"`{neutralise(info.source_id)}`", FIELD_VALUE_LIMIT)
    )
    if info.site:
        embed.add_field(name=t(language, "field_site"), value=clip(safe(info.site), 200))
    if info.published and _timestamp(info.published):
        embed.add_field(name=t(language, "field_published"), value=_timestamp(info.published))
    if info.author:
        embed.add_field(name=t(language, "field_author"), value=clip(safe(info.author), 300))
    embed.add_field(name=t(language, "field_language"), value=_language(info))
    embed.add_field(name=t(language, "field_passages"), value=str(info.chunks))
    embed.add_field(name=t(language, "field_indexed"), value=_when(info.indexed_at, language))
    if info.url:
        embed.add_field(
            name=t(language, "field_url"), value=clip(neutralise(info.url), FIELD_VALUE_LIMIT), inline=False
        )
    return embed


def help_embed(
    sources: list[SourceInfo], language: str, *, own: str | None, in_server: bool, read_only: bool
) -> discord.Embed:
    """How to use the bot, and what it can quote from where it is asked: the base library's
    articles and, in a server with a library of its own (``own``), that library's."""
    embed = discord.Embed(
        title=t(language, "help_title"), description=t(language, "help_about"), colour=discord.Colour.blue()
    )
    embed.add_field(name=t(language, "help_ask_name"), value=t(language, "help_ask"), inline=False)
    embed.add_field(name=t(language, "help_then_name"), value=t(language, "help_then"), inline=False)
    archive = t(
        language,
        "help_archive",
        articles=len(sources),
        passages=sum(s.chunks for s in sources),
    )
    if own is not None:
        count = sum(1 for s in sources if s.library == own)
        archive += " " + (
            t(language, "help_archive_own", own=count) if count else t(language, "help_archive_none")
        )
    embed.add_field(name=t(language, "help_archive_name"), value=archive, inline=False)
    if read_only:
        moderators = t(language, "read_only")
    elif not in_server:
        moderators = t(language, "help_moderators_dm")
    else:
        moderators = t(language, "help_moderators" if own is not None else "help_moderators_base")
    embed.add_field(name=t(language, "help_moderators_name"), value=moderators, inline=False)
    return embed


def _title(info: SourceInfo) -> str:
    """The article's title, else its name, mentions inert; never empty."""
    return neutralise(info.title.strip() or info.source_id.strip()) or "?"


def _language(info: SourceInfo) -> str:
    """The language code as shown: short and inert, whatever a metadata file said."""
    return clip(neutralise(info.language.strip()), 16) or "?"


def announcement(info: SourceInfo, language: str) -> str:
    """A short post for an article a feed brought in: ``New: title (<link>) — outlet, date``,
    mentions inert and markdown escaped (the title comes from the article), within 2000
    characters; the link in ``<>`` so that no preview unfolds under every post."""
    head = t(language, "announce", title=f"**{clip(safe(_title(info)), 300)}**")
    where = [clip(safe(info.site or ""), 100), _timestamp(info.published)]
    tail = " — " + ", ".join(part for part in where if part) if any(where) else ""
    target = link_target(info.url)
    link = f" (<{target}>)" if target is not None else ""
    if len(head) + len(link) + len(tail) > CONTENT_LIMIT:
        link = ""  # an address too long to post whole is left out, never cut
    return clip(head + link + tail, CONTENT_LIMIT)


def message_text(text: str) -> str:
    """Plain message content from untrusted text, within 2000 characters, mentions inert."""
    return clip(neutralise(text), CONTENT_LIMIT)


def embed_violations(embed: dict[str, object] | discord.Embed) -> list[str]:
    """Every Discord limit an embed (object or JSON payload) breaks; empty when it fits."""
    data = embed.to_dict() if isinstance(embed, discord.Embed) else embed
    problems: list[str] = []
    title = str(data.get("title") or "")
    description = str(data.get("description") or "")
    footer = str((data.get("footer") or {}).get("text") or "")  # type: ignore[union-attr]
    author = str((data.get("author") or {}).get("name") or "")  # type: ignore[union-attr]
    fields = list(data.get("fields") or [])  # type: ignore[call-overload]
    if len(title) > TITLE_LIMIT:
        problems.append(f"title {len(title)} > {TITLE_LIMIT}")
    if len(description) > DESCRIPTION_LIMIT:
        problems.append(f"description {len(description)} > {DESCRIPTION_LIMIT}")
    if len(footer) > FOOTER_LIMIT:
        problems.append(f"footer {len(footer)} > {FOOTER_LIMIT}")
    if len(fields) > FIELDS_LIMIT:
        problems.append(f"{len(fields)} fields > {FIELDS_LIMIT}")
    total = len(title) + len(description) + len(footer) + len(author)
    for field in fields:
        name, value = str(field.get("name", "")), str(field.get("value", ""))
        if not name or not value:
            problems.append("empty field name or value")
        if len(name) > FIELD_NAME_LIMIT:
            problems.append(f"field name {len(name)} > {FIELD_NAME_LIMIT}")
        if len(value) > FIELD_VALUE_LIMIT:
            problems.append(f"field value {len(value)} > {FIELD_VALUE_LIMIT}")
        total += len(name) + len(value)
    if total > EMBED_TOTAL_LIMIT:
        problems.append(f"total {total} > {EMBED_TOTAL_LIMIT}")
    return problems
