"""Publication dates in questions: ``--since`` / ``--until`` bounds, and dates as citations show them.

A bound is an ISO date (``2020-02-12``), an ISO date-time with or without offset, a day
in words (``1er décembre 2026``, ``Dec 1, 2026``, ``today``, ``hier``), or a time before
now: ``7d``, ``2w``, ``3m`` (calendar months), ``1y`` (in French ``7j``, ``2s``, ``1a``).
``since`` counts from the start of its day and ``until`` to the end of its day (UTC), so
``--since 2020-02-12 --until 2020-02-12`` is that day. Articles are compared by their
``published_ts`` (see :func:`retrieval.metadata.date_timestamp`); an article without a
date is outside every range.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from retrieval.errors import QuestionError
from retrieval.metadata import date_timestamp, written_date

#: ``7d``, ``2w``, ``3m``, ``1y`` (``7j``, ``2s``, ``3m``, ``1a`` in French): that long before now.
RELATIVE = re.compile(r"^\s*(\d{1,5})\s*([dwmyjsa])\s*$", re.IGNORECASE)
#: The French units, as the English ones: jours, semaines, ans.
FRENCH_UNITS = {"j": "d", "s": "w", "a": "y"}
#: Days said in a word: how many days before today.
DAY_WORDS = {"today": 0, "aujourd'hui": 0, "yesterday": 1, "hier": 1}
#: The metadata key sentences and passages carry their article's date under (Unix seconds).
TIMESTAMP_KEY = "published_ts"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HINT = "use a date such as 2020-02-12, or 7d, 2w, 3m, 1y for that long ago"
#: The earliest and latest moments a bound keeps: one further out (0001-01-01, 9999-12-31,
#: with a time zone that pushes it past the calendar's ends) excludes nothing more, and
#: these still turn back into dates.
EARLIEST = int(datetime(1, 1, 2, tzinfo=UTC).timestamp())
LATEST = int(datetime(9999, 12, 30, tzinfo=UTC).timestamp())
EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class DateRange:
    """Publication dates a search keeps, as Unix seconds, both ends included; None: open."""

    since: int | None = None
    until: int | None = None

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None

    def contains(self, stamp: int | None) -> bool:
        """Whether an article published at ``stamp`` is in range (an undated one never is,
        unless the range is open at both ends)."""
        if not self.bounded:
            return True
        if stamp is None:
            return False
        return (self.since is None or stamp >= self.since) and (self.until is None or stamp <= self.until)

    def where(self) -> dict[str, Any] | None:
        """The Chroma metadata filter that keeps records in range (a record without the key
        never matches), or None when the range is open."""
        clauses: list[dict[str, Any]] = []
        if self.since is not None:
            clauses.append({TIMESTAMP_KEY: {"$gte": self.since}})
        if self.until is not None:
            clauses.append({TIMESTAMP_KEY: {"$lte": self.until}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def moments(self) -> dict[str, datetime | None]:
        """``{"since": ..., "until": ...}`` as times, what ``Retriever.search`` takes."""
        return {
            name: None if stamp is None else datetime.fromtimestamp(stamp, UTC)
            for name, stamp in (("since", self.since), ("until", self.until))
        }

    def to_json(self) -> dict[str, str | None]:
        """Both ends as ISO 8601 in UTC (what an answer's buttons search again with)."""
        return {"since": _iso(self.since), "until": _iso(self.until)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> DateRange:
        data = data or {}
        return cls(date_timestamp(data.get("since")), date_timestamp(data.get("until")))


def parse_range(
    since: str | datetime | None, until: str | datetime | None, *, now: datetime | None = None
) -> DateRange:
    """The range ``since`` .. ``until`` (each optional).

    Raises:
        QuestionError: a bound is not a date, or ``since`` comes after ``until``.
    """
    now = now or datetime.now(UTC)
    start = _bound(since, now, end=False, name="since")
    stop = _bound(until, now, end=True, name="until")
    if start is not None and stop is not None and start > stop:
        raise QuestionError(
            f"the range is empty: since ({_iso(start)}) comes after until ({_iso(stop)})",
            "dates_empty",
            since=_iso(start),
            until=_iso(stop),
        )
    return DateRange(start, stop)


def _bound(value: str | datetime | None, now: datetime, *, end: bool, name: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return max(EARLIEST, min(LATEST, _stamp(value, now, end=end, name=name)))


def _stamp(value: str | datetime, now: datetime, *, end: bool, name: str) -> int:
    if isinstance(value, datetime):
        return _seconds(value)
    text = value.strip()
    relative = RELATIVE.match(text)
    if relative:
        unit = relative[2].lower()
        return _seconds(_ago(now, int(relative[1]), FRENCH_UNITS.get(unit, unit)))
    try:
        day = _day(text, now)
        if day is not None:
            start = _seconds(datetime(day.year, day.month, day.day))
            return start + 86399 if end else start
        return _seconds(datetime.fromisoformat(text))
    except ValueError:
        raise QuestionError(
            f"{name}: not a date: {text[:40]!r} ({HINT})", "dates_not_a_date", name=name, text=text[:40]
        ) from None


def _day(text: str, now: datetime) -> date | None:
    """The day ``text`` names: ISO, in words (French or English), or today or yesterday;
    None when it names no day (it may still be a date-time).

    Raises:
        ValueError: an ISO day that does not exist (2026-13-01).
    """
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    back = DAY_WORDS.get(text.casefold().replace("’", "'"))
    if back is not None:
        return (now - timedelta(days=back)).date()
    return written_date(text)


def _seconds(moment: datetime) -> int:
    """Unix seconds of a moment (UTC when it has no time zone), even one whose UTC time
    falls outside the calendar, where ``datetime.timestamp`` overflows."""
    offset = moment.utcoffset() or timedelta(0)
    return int((moment.replace(tzinfo=None) - EPOCH - offset).total_seconds())


def _ago(now: datetime, count: int, unit: str) -> datetime:
    if unit == "d":
        return now - timedelta(days=count)
    if unit == "w":
        return now - timedelta(weeks=count)
    months = count * (12 if unit == "y" else 1)
    year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
    if year < 1:
        raise QuestionError(
            f"{count}{unit} is too long ago ({HINT})", "dates_too_long_ago", ago=f"{count}{unit}"
        )
    month += 1
    day = min(now.day, _days_in(year, month))
    return now.replace(year=year, month=month, day=day)


def _days_in(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _iso(stamp: int | None) -> str | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


def is_day(published: str | None) -> bool:
    """Whether a publication date is a day without a time (``2020-02-12``)."""
    return bool(published) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", published or "") is not None


def display_stamp(published: str | None) -> int | None:
    """Unix seconds to show a publication date from (a Discord ``<t:...:D>`` timestamp).

    A day without a time is shown from its noon UTC, so that every time zone from UTC-12
    to UTC+11 renders the same calendar day (its midnight would be the day before west of
    Greenwich); a date-time is the moment itself, shown in the reader's zone.
    """
    stamp = date_timestamp(published)
    if stamp is None:
        return None
    return stamp + 12 * 3600 if is_day(published) else stamp


def short_date(published: str | None) -> str:
    """``12 Feb 2020`` for an ISO date or date-time (its day as written); "" when unknown."""
    if not published:
        return ""
    match = re.match(r"(\d{4})-(\d{2})-(\d{2})", published.strip())
    if not match or not 1 <= int(match[2]) <= 12:
        return ""
    return f"{int(match[3])} {MONTHS[int(match[2]) - 1]} {match[1]}"
