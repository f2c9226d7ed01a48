"""Time expressions in queries: "yesterday", "two weeks ago", "last month", "in May", "on March 3rd, 2023" become
an event-time window relative to a reference date (when the question is asked).

Windows are generous on purpose: a memory's event time is when it was said (or the date the model resolved), and
people are loose with "last week". Retrieval uses a window as a boost (default) or a filter
(``retrieval.time_mode``). Only English expressions are recognised; a query without one gets no window.

Month names double as names ("Jun's husband", "a novel of May Sarton") and words ("May I ask"), and a wrong
window drops the right memory (filter) or lifts a wrong one (boost). So a month word without a day or a year
beside it is read as a name when it is possessive ("June's", unless "last May's"), when it is capitalised and
followed by a capitalised word ("April Smith"; not "I", not "Last Year"), or when it is an abbreviation that is
also a name or word ("Jan", "Mar", "Jun"): those count only in "Jun 5", "3 Mar", "Jan 2024". "May" needs a
preposition before it ("in May", "last May", "of May"), so "May I ask" is not a date either. The price: "in May
Alice moved" reads May as part of a name; add the year ("in May 2024") and it is a date again.

Example:
    >>> from datetime import UTC, datetime
    >>> w = parse_time_window("What did I buy two weeks ago?", datetime(2023, 5, 30, tzinfo=UTC))
    >>> w.expression, f"{w.start:%Y-%m-%d}", f"{w.end:%Y-%m-%d}"
    ('two weeks ago', '2023-05-13', '2023-05-19')
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a couple of": 2,
    "couple of": 2,
    "a few": 3,
    "few": 3,
    "several": 4,
}
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_NAME_LIKE_ABBREVIATIONS = frozenset({"jan", "mar", "jun"})  # also first names or words: months only when dated
_TIME_WORDS = frozenset({"last", "this", "next", "year", "month", "week", *_MONTHS, *_WEEKDAYS})
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}

_NUM = r"(?P<n>\d+|" + "|".join(sorted((re.escape(k) for k in _NUMBERS), key=len, reverse=True)) + r")"
_UNIT = r"(?P<unit>day|week|month|year)s?"
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAY = r"(?P<weekday>" + "|".join(_WEEKDAYS) + r")"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d{2})"

# Most specific first: the first pattern that matches decides.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(r"\b(?P<year>(?:19|20)\d{2})[-/](?P<month>\d{1,2})[-/](?P<day>\d{1,2})\b")),
    ("month_day", re.compile(rf"\b{_MONTH}\s+{_DAY}\b(?:,?\s+{_YEAR})?", re.I)),
    ("day_month", re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?\b", re.I)),
    ("day_before_yesterday", re.compile(r"\bthe\s+day\s+before\s+yesterday\b", re.I)),
    ("yesterday", re.compile(r"\byesterday\b|\blast\s+night\b", re.I)),
    ("today", re.compile(r"\btoday\b|\btonight\b|\bthis\s+(?:morning|afternoon|evening)\b", re.I)),
    ("ago", re.compile(rf"\b{_NUM}\s+{_UNIT}\s+ago\b", re.I)),
    ("past_n", re.compile(rf"\b(?:past|last|previous)\s+{_NUM}\s+{_UNIT}\b", re.I)),
    ("weekday", re.compile(rf"\b(?:last|this\s+past|past|on|this)\s+{_WEEKDAY}\b", re.I)),
    ("last_weekend", re.compile(r"\b(?:last|this\s+past|past)\s+weekend\b", re.I)),
    (
        "month_relative_year",
        re.compile(
            rf"\b(?:(?:in|during|early|mid|late)\s+)?{_MONTH}\s+(?:of\s+)?(?P<relative>last|this)\s+year\b", re.I
        ),
    ),
    ("last_unit", re.compile(r"\b(?:last|past|previous)\s+(?P<unit>week|month|year)\b", re.I)),
    ("this_unit", re.compile(r"\bthis\s+(?P<unit>week|month|year)\b", re.I)),
    ("month_year", re.compile(rf"\b{_MONTH}\s+(?:of\s+)?{_YEAR}\b", re.I)),
    (
        "in_month",
        re.compile(rf"\b(?P<prefix>in|during|since|of|early|mid|late|last)\s+{_MONTH}(?![\w-])", re.I),
    ),
    ("in_year", re.compile(rf"\b(?:in|during|of|since)\s+{_YEAR}\b", re.I)),
]


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """An event-time window found in a query: ``start`` to ``end`` (inclusive), and the words that said so."""

    start: datetime
    end: datetime
    expression: str
    span: tuple[int, int]

    def contains(self, when: datetime) -> bool:
        return self.start <= when <= self.end

    def strip(self, query: str) -> str:
        """The query without the time expression (lexical search should not look for "ago" or "last")."""
        return (query[: self.span[0]] + " " + query[self.span[1] :]).strip()


def _number(text: str) -> int:
    text = " ".join(text.lower().split())
    return int(text) if text.isdigit() else _NUMBERS[text]


def _day(d: datetime) -> tuple[datetime, datetime]:
    start = datetime.combine(d.date(), time.min, d.tzinfo)
    return start, datetime.combine(d.date(), time.max, d.tzinfo)


def _days(first: datetime, last: datetime) -> tuple[datetime, datetime]:
    return _day(first)[0], _day(last)[1]


def _month(year: int, month: int, tz: object) -> tuple[datetime, datetime]:
    last = calendar.monthrange(year, month)[1]
    return (
        datetime(year, month, 1, tzinfo=tz),  # type: ignore[arg-type]
        datetime.combine(datetime(year, month, last).date(), time.max, tz),  # type: ignore[arg-type]
    )


def _month_number(text: str) -> int:
    return _MONTHS[text.lower().rstrip(".")]


def _recent_year(ref: datetime, month: int, day: int = 1) -> int:
    """The year of the latest ``month``/``day`` not after ``ref`` (a question about May asked in March: last May)."""
    return ref.year if (month, day) <= (ref.month, ref.day) else ref.year - 1


def _window(kind: str, m: re.Match[str], ref: datetime) -> tuple[datetime, datetime] | None:
    tz = ref.tzinfo
    groups = m.groupdict()
    if kind == "iso":
        try:
            return _day(datetime(int(m["year"]), int(m["month"]), int(m["day"]), tzinfo=tz))
        except ValueError:
            return None
    if kind in ("month_day", "day_month"):
        month, day = _month_number(m["month"]), int(m["day"])
        year = int(m["year"]) if groups.get("year") else _recent_year(ref, month, day)
        try:
            return _day(datetime(year, month, day, tzinfo=tz))
        except ValueError:
            return None
    if kind == "day_before_yesterday":
        return _day(ref - timedelta(days=2))
    if kind == "yesterday":
        return _day(ref - timedelta(days=1))
    if kind == "today":
        return _day(ref)
    if kind == "ago":
        n, unit = _number(m["n"]), m["unit"].lower()
        center = ref - timedelta(days=n * _UNIT_DAYS[unit])
        slack = {"day": 1, "week": 3, "month": 15, "year": 183}[unit]
        return _days(center - timedelta(days=slack), min(center + timedelta(days=slack), ref))
    if kind == "past_n":
        n, unit = _number(m["n"]), m["unit"].lower()
        return _days(ref - timedelta(days=n * _UNIT_DAYS[unit]), ref)
    if kind == "weekday":
        back = (ref.weekday() - _WEEKDAYS[m["weekday"].lower()]) % 7 or 7
        return _day(ref - timedelta(days=back))
    if kind == "last_weekend":
        back = (ref.weekday() - 5) % 7 or 7  # the last Saturday before today
        saturday = ref - timedelta(days=back)
        return _days(saturday, saturday + timedelta(days=1))
    if kind == "last_unit":
        unit = m["unit"].lower()
        if unit == "week":  # the previous calendar week, and the days since
            monday = ref - timedelta(days=ref.weekday() + 7)
            return _days(monday, ref)
        if unit == "month":
            year, month = (ref.year, ref.month - 1) if ref.month > 1 else (ref.year - 1, 12)
            return _month(year, month, tz)[0], _day(ref)[1]
        return datetime(ref.year - 1, 1, 1, tzinfo=tz), _day(ref)[1]
    if kind == "this_unit":
        unit = m["unit"].lower()
        if unit == "week":
            return _days(ref - timedelta(days=ref.weekday()), ref)
        if unit == "month":
            return datetime(ref.year, ref.month, 1, tzinfo=tz), _day(ref)[1]
        return datetime(ref.year, 1, 1, tzinfo=tz), _day(ref)[1]
    if kind == "month_year":
        return _month(int(m["year"]), _month_number(m["month"]), tz)
    if kind == "month_relative_year":
        year = ref.year - 1 if m["relative"].lower() == "last" else ref.year
        return _month(year, _month_number(m["month"]), tz)
    if kind == "in_month":
        month = _month_number(m["month"])
        if m["prefix"].lower() == "last":  # "last May" asked in May is a year ago
            return _month(ref.year if month < ref.month else ref.year - 1, month, tz)
        return _month(_recent_year(ref, month), month, tz)
    if kind == "in_year":
        year = int(m["year"])
        return datetime(year, 1, 1, tzinfo=tz), datetime.combine(datetime(year, 12, 31).date(), time.max, tz)
    return None  # pragma: no cover - every kind is handled above


_DATED = frozenset({"month_day", "day_month", "month_year"})  # a day or a year beside the month: always a date
_POSSESSIVE = re.compile(r"\.?['\u2019]s\b")
_NEXT_WORD = re.compile(r"\s+([A-Z][a-z][\w'\u2019-]*)")


def _month_is_a_name(kind: str, m: re.Match[str], query: str) -> bool:
    """Whether the month word of an undated match is a name or a word ("Jun's", "May Sarton", "of Jan")."""
    if kind in _DATED:
        return False
    word = m["month"]
    if word.lower() in _NAME_LIKE_ABBREVIATIONS:
        return True
    after = query[m.end("month") :]
    if _POSSESSIVE.match(after):
        return (m.groupdict().get("prefix") or "").lower() != "last"  # "last May's trip" is a date
    following = _NEXT_WORD.match(after)
    return (
        word[:1].isupper()
        and word[1:].islower()
        and following is not None
        and following[1].lower().rstrip(".") not in _TIME_WORDS
    )


def parse_time_window(query: str, reference: datetime) -> TimeWindow | None:
    """The event-time window a query's time expression points at, relative to ``reference`` (naive: UTC).

    Returns ``None`` when the query has no recognised expression.
    """
    ref = reference if reference.tzinfo is not None else reference.replace(tzinfo=UTC)
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(query):
            if "month" in pattern.groupindex and kind != "iso" and _month_is_a_name(kind, m, query):
                continue
            try:
                found = _window(kind, m, ref)
            except (OverflowError, ValueError):  # "5000 years ago" points outside the calendar: no window
                continue
            if found is not None:
                return TimeWindow(found[0], found[1], m.group(0), m.span())
    return None
