"""Jinja filters and tests bound at render time to the recipient's locale and timezone.

The renderer puts `_locale` and `_tz` into every render context; the filters read them from there, so a
template compiles once and still formats for whoever receives it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context

from i18n import formatting

LOCALE_VAR = "_locale"
TZ_VAR = "_tz"


def _locale(ctx: Context) -> str:
    return str(ctx[LOCALE_VAR])


def _tz(ctx: Context) -> str:
    return str(ctx[TZ_VAR])


def _now(ctx: Context) -> datetime:
    now = ctx.resolve_or_missing("now")
    if not isinstance(now, datetime):
        raise ValueError("the render context has no 'now' datetime for a relative phrase")
    return now


@pass_context
def datetime_filter(ctx: Context, dt: datetime, format: str = "medium") -> str:
    return formatting.format_datetime(dt, _locale(ctx), _tz(ctx), format)


@pass_context
def date_filter(ctx: Context, value: date, format: str = "long") -> str:
    return formatting.format_date(value, _locale(ctx), _tz(ctx), format)


@pass_context
def time_filter(ctx: Context, dt: datetime, format: str = "short") -> str:
    return formatting.format_time(dt, _locale(ctx), _tz(ctx), format)


@pass_context
def weekday_filter(ctx: Context, value: date, width: str = "wide") -> str:
    return formatting.format_weekday(value, _locale(ctx), _tz(ctx), width)


@pass_context
def relative_day_filter(ctx: Context, dt: datetime, with_date: bool = False) -> str:
    return formatting.format_relative_day(dt, _now(ctx), _locale(ctx), _tz(ctx), with_date=with_date)


@pass_context
def timedelta_filter(ctx: Context, delta: timedelta, direction: bool = False) -> str:
    return formatting.format_timedelta(delta, _locale(ctx), add_direction=direction)


@pass_context
def from_now_filter(ctx: Context, dt: datetime) -> str:
    """`через 2 часа`, `in 2 hours`: the time left from the send moment until `dt`."""
    return formatting.format_timedelta(dt - _now(ctx), _locale(ctx), add_direction=True)


@pass_context
def currency_filter(ctx: Context, amount: float | Decimal, currency: str) -> str:
    return formatting.format_currency(amount, currency, _locale(ctx))


@pass_context
def number_filter(ctx: Context, n: float | Decimal) -> str:
    return formatting.format_number(n, _locale(ctx))


@pass_context
def plural_filter(ctx: Context, n: float | Decimal, **forms: str) -> str:
    """`{{ 21 | plural(one="час", few="часа", many="часов", other="часа") }}` -> `21 час`."""
    locale = _locale(ctx)
    return f"{formatting.format_number(n, locale)} {formatting.pluralize(n, locale, forms)}"


@pass_context
def within_hours_test(ctx: Context, dt: datetime, hours: float) -> bool:
    """`{% if appointment.starts_at is within_hours(3) %}`: is `dt` at most that far after `now`?"""
    return dt - _now(ctx) <= timedelta(hours=hours)


def capfirst_filter(text: str) -> str:
    """`завтра, 24 ноября` -> `Завтра, 24 ноября`; unlike `capitalize`, keeps `November` as is."""
    return text[:1].upper() + text[1:]


FILTERS: dict[str, Any] = {
    "capfirst": capfirst_filter,
    "datetime": datetime_filter,
    "date": date_filter,
    "time": time_filter,
    "weekday": weekday_filter,
    "relative_day": relative_day_filter,
    "timedelta": timedelta_filter,
    "from_now": from_now_filter,
    "currency": currency_filter,
    "number": number_filter,
    "plural": plural_filter,
}
TESTS: dict[str, Any] = {"within_hours": within_hours_test}
