"""Babel formatting of dates, times, durations, plurals and money in the recipient's locale and timezone."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from babel import Locale, dates, numbers

DateFormat = str  # "short" | "medium" | "long" | "full", or a CLDR skeleton such as "MMMMd"
_NAMED_FORMATS = frozenset({"short", "medium", "long", "full"})

# CLDR's relative day names ("tomorrow") are not in Babel's locale data, only "in {0} days";
# languages missing here fall back to the date itself, which is never wrong, only less friendly.
_RELATIVE_DAYS: dict[str, dict[int, str]] = {
    "en": {-1: "yesterday", 0: "today", 1: "tomorrow"},
    "ru": {-2: "позавчера", -1: "вчера", 0: "сегодня", 1: "завтра", 2: "послезавтра"},
    "de": {-2: "vorgestern", -1: "gestern", 0: "heute", 1: "morgen", 2: "übermorgen"},
    "uk": {-1: "учора", 0: "сьогодні", 1: "завтра", 2: "післязавтра"},
    "fr": {-1: "hier", 0: "aujourd’hui", 1: "demain", 2: "après-demain"},
    "es": {-1: "ayer", 0: "hoy", 1: "mañana", 2: "pasado mañana"},
}


@lru_cache(maxsize=256)
def babel_locale(locale: str) -> Locale:
    """The Babel locale for a BCP 47 tag (`ru-RU` -> `ru_RU`), one object per tag: a Locale loads its
    CLDR data on first use and keeps it, so a new one per date formatted loaded it again (10 -> 4 us a
    date; `localedata.load` was 2.8 % of the worker's CPU in `python -m bench.profile`)."""
    return Locale.parse(locale.replace("-", "_"))


def to_local(dt: datetime, tz: str) -> datetime:
    """The same instant on the recipient's wall clock; naive datetimes are refused, not guessed."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt.isoformat()} has no timezone; pass an aware datetime")
    return dt.astimezone(ZoneInfo(tz))


def _date_text(value: date, locale: str, format: DateFormat) -> str:
    loc = babel_locale(locale)
    if format in _NAMED_FORMATS:
        return dates.format_date(value, format, locale=loc)
    return dates.format_skeleton(format, value, locale=loc)


def format_datetime(dt: datetime, locale: str, tz: str, format: str = "medium") -> str:
    """Date and time together, e.g. `24 нояб. 2025 г., 10:00:00` (medium) in the recipient's zone."""
    local = to_local(dt, tz)
    loc = babel_locale(locale)
    if format in _NAMED_FORMATS:
        return dates.format_datetime(local, format, tzinfo=local.tzinfo, locale=loc)
    return dates.format_skeleton(format, local, tzinfo=local.tzinfo, locale=loc)


def format_date(value: date, locale: str, tz: str, format: DateFormat = "long") -> str:
    """The local calendar date: a Babel named format or a CLDR skeleton (`MMMMd` -> `24 ноября`)."""
    day = to_local(value, tz).date() if isinstance(value, datetime) else value
    return _date_text(day, locale, format)


def format_time(dt: datetime, locale: str, tz: str, format: str = "short") -> str:
    """Wall-clock time in the locale's own pattern: `10:00` in ru/de/en-GB, `10:00 AM` in en-US."""
    local = to_local(dt, tz)
    return dates.format_time(local, format, tzinfo=local.tzinfo, locale=babel_locale(locale))


def format_weekday(value: date, locale: str, tz: str, width: str = "wide") -> str:
    """The local day of the week: `понедельник`, `Monday` (`abbreviated` gives `пн`, `Mon`)."""
    day = to_local(value, tz).date() if isinstance(value, datetime) else value
    pattern = {"wide": "EEEE", "abbreviated": "EEE", "short": "EEEEEE"}[width]
    return dates.format_date(day, pattern, locale=babel_locale(locale))


def format_relative_day(dt: datetime, now: datetime, locale: str, tz: str, *, with_date: bool = False) -> str:
    """`today`, `завтра`, `послезавтра` counted in local calendar days, or `24 ноября` further away.

    `with_date` keeps the date after a relative word: `завтра, 24 ноября`.
    """
    day = to_local(dt, tz).date()
    distance = (day - to_local(now, tz).date()).days
    the_date = _date_text(day, locale, "MMMMd")
    word = _RELATIVE_DAYS.get(babel_locale(locale).language, {}).get(distance)
    if word is None:
        return the_date
    return f"{word}, {the_date}" if with_date else word


def format_timedelta(
    delta: timedelta,
    locale: str,
    *,
    add_direction: bool = False,
    granularity: Literal["year", "month", "week", "day", "hour", "minute", "second"] = "minute",
    threshold: float = 0.85,
) -> str:
    """A duration in words: `2 часа`, `45 minutes`; with `add_direction`, `через 2 часа`, `in 2 hours`."""
    return dates.format_timedelta(
        delta,
        granularity=granularity,
        threshold=threshold,
        add_direction=add_direction,
        locale=babel_locale(locale),
    )


def plural_category(n: float | Decimal, locale: str) -> str:
    """The CLDR plural category of `n`: `one`, `few`, `many` or `other` (ru: 1 one, 2 few, 5 many)."""
    return str(babel_locale(locale).plural_form(n))


def pluralize(n: float | Decimal, locale: str, forms: Mapping[str, str]) -> str:
    """The word form for `n` from forms keyed by CLDR category; `other` is the required fallback."""
    category = plural_category(n, locale)
    if category in forms:
        return forms[category]
    if "other" in forms:
        return forms["other"]
    raise ValueError(f"no plural form for category {category!r} and no 'other' form")


def format_number(n: float | Decimal, locale: str) -> str:
    """A number with the locale's digit grouping: `1 000` in ru, `1,000` in en."""
    return numbers.format_decimal(n, locale=babel_locale(locale))


def format_currency(amount: float | Decimal, currency: str, locale: str) -> str:
    """Money in the locale's pattern: `1 500,00 ₽` in ru, `$1,500.00` in en-US."""
    return numbers.format_currency(amount, currency, locale=babel_locale(locale))
