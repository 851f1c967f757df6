"""Calendar periods (ISO 8601 `P6M1D`): months as the calendar counts them, not 30-day blocks."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_PERIOD = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")
# A recall further off than this is a typo: no clinic recalls a patient in ten years.
MAX_MONTHS = 5 * 12
MAX_DAYS = 400


def parse_period(text: str) -> tuple[int, int]:
    """`P6M1D` -> (6 months, 1 day); years become months and weeks days. Hours have no place here."""
    found = _PERIOD.match(text)
    if found is None or text == "P":
        raise ValueError("must be an ISO 8601 period of years, months, weeks and days, e.g. P6M1D")
    years, months, weeks, days = (int(part or 0) for part in found.groups())
    total_months, total_days = years * 12 + months, weeks * 7 + days
    if total_months == 0 and total_days == 0:
        raise ValueError("must be longer than zero")
    if total_months > MAX_MONTHS or total_days > MAX_DAYS:
        raise ValueError(f"must be at most {MAX_MONTHS // 12} years and {MAX_DAYS} days")
    return total_months, total_days


def add_period(moment: datetime, period: str, tz: str) -> datetime:
    """`moment` plus the period on the local calendar: 31 August + P6M is 28 (29) February.

    Six months after a 10:00 visit is 10:00 local, whatever DST did in between; "+1 day" keeps a
    six-month recall from ever falling before the date an insurer counts from.
    """
    months, days = parse_period(period)
    local = moment.astimezone(ZoneInfo(tz))
    index = local.year * 12 + (local.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last_day = _days_in(year, month)
    day = local.date().replace(year=year, month=month, day=min(local.day, last_day))
    # As domain/quiet_hours.localize (not imported: settings validate periods, quiet hours read settings).
    naive = datetime.combine(day + timedelta(days=days), local.time().replace(tzinfo=None))
    return naive.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def _days_in(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - date(year, month, 1)).days
