"""The settings form both ways (TenantSettings ⇄ the fields staff type), and the preview line.

Durations are typed as staff say them (`24h, 2h`, `30m`, `3d`); the model then validates exactly as
`PUT /v1/settings` does, so the page and the API refuse the same things.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from pydantic import ValidationError

from domain.contacts import Channel
from domain.planning import plan_reminders
from domain.quiet_hours import before_by
from domain.settings import TenantSettings

DURATIONS = (
    "confirmation_sla",
    "early_booking_window",
    "feedback_delay",
    "feedback_followup_delay",
    "feedback_window",
    "max_lateness",
    "payment_escalation_delay",
    "chat_push_delay",
    "chat_sms_delay",
    "chat_idle_close",
)
DURATION_LISTS = ("reminder_offsets", "payment_nudge_offsets")
UNITS = {"d": 86400, "h": 3600, "m": 60, "min": 60, "s": 1}
_DURATION = re.compile(r"^\s*(\d+)\s*(d|h|min|m|s)\s*$", re.I)


class FormError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def show_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0 and (unit != "d" or seconds >= 2 * size):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_duration(field: str, text: str) -> timedelta:
    found = _DURATION.match(text)
    if found is None:
        raise FormError(field, f"{text.strip()!r} is not a duration like 24h, 30m, 3d or 90s")
    return timedelta(seconds=int(found.group(1)) * UNITS[found.group(2).lower()])


def to_form(settings: TenantSettings) -> dict[str, Any]:
    """What the form shows for these settings."""
    form: dict[str, Any] = {
        "timezone": settings.timezone,
        "default_locale": settings.default_locale,
        "low_rating_threshold": str(settings.low_rating_threshold),
        "quiet_enabled": settings.quiet_hours is not None,
        "quiet_start": settings.quiet_hours.start.strftime("%H:%M") if settings.quiet_hours else "21:00",
        "quiet_end": settings.quiet_hours.end.strftime("%H:%M") if settings.quiet_hours else "09:00",
        "business_start": settings.business_hours.start.strftime("%H:%M"),
        "business_end": settings.business_hours.end.strftime("%H:%M"),
        "staff_recipients": json.dumps(
            [c.model_dump(mode="json", exclude_defaults=True) for c in settings.staff_recipients],
            ensure_ascii=False,
            indent=1,
        ),
        "provider_credentials": "\n".join(f"{k} = {v}" for k, v in settings.provider_credentials.items()),
    }
    for name in DURATIONS:
        form[name] = show_duration(getattr(settings, name))
    for name in DURATION_LISTS:
        form[name] = ", ".join(show_duration(v) for v in getattr(settings, name))
    for channel, cost in settings.channel_costs.items():
        form[f"cost_{channel.value}"] = f"{cost:g}"
    return form


def _time(field: str, text: str) -> time:
    try:
        return time.fromisoformat(text.strip())
    except ValueError:
        raise FormError(field, f"{text.strip()!r} is not a time like 21:00") from None


def from_form(form: Mapping[str, Any], current: TenantSettings) -> TenantSettings:
    """The settings the form describes; FormError names the first field that is wrong."""
    text = {name: str(value) for name, value in form.items()}
    data: dict[str, Any] = current.model_dump()
    data["timezone"] = text.get("timezone", "").strip()
    data["default_locale"] = text.get("default_locale", "").strip()
    threshold = text.get("low_rating_threshold", "").strip()
    if not threshold.isdigit():
        raise FormError("low_rating_threshold", "a whole number from 1 to 5")
    data["low_rating_threshold"] = int(threshold)
    for name in DURATIONS:
        data[name] = parse_duration(name, text.get(name, ""))
    for name in DURATION_LISTS:
        parts = [part for part in text.get(name, "").split(",") if part.strip()]
        data[name] = [parse_duration(name, part) for part in parts]
    data["quiet_hours"] = (
        {
            "start": _time("quiet_start", text.get("quiet_start", "")),
            "end": _time("quiet_end", text.get("quiet_end", "")),
        }
        if text.get("quiet_enabled")
        else None
    )
    data["business_hours"] = {
        "start": _time("business_start", text.get("business_start", "")),
        "end": _time("business_end", text.get("business_end", "")),
    }
    costs = {}
    for channel in Channel:
        raw = text.get(f"cost_{channel.value}", "").strip()
        try:
            costs[channel] = float(raw or 0)
        except ValueError:
            raise FormError(f"cost_{channel.value}", f"{raw!r} is not a number") from None
        if costs[channel] < 0:
            raise FormError(f"cost_{channel.value}", "a cost cannot be negative")
    data["channel_costs"] = costs
    try:
        data["staff_recipients"] = json.loads(text.get("staff_recipients", "").strip() or "[]")
    except json.JSONDecodeError as exc:
        raise FormError("staff_recipients", f"not JSON: {exc.msg} at line {exc.lineno}") from None
    credentials = {}
    for line in text.get("provider_credentials", "").splitlines():
        if not line.strip():
            continue
        name, sep, variable = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]*", variable.strip()):
            raise FormError("provider_credentials", f"{line.strip()!r}: write name = ENVIRONMENT_VARIABLE")
        credentials[name.strip()] = variable.strip()
    data["provider_credentials"] = credentials
    try:
        return TenantSettings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "form"
        if field == "quiet_hours":
            field = "quiet_start"
        raise FormError(field, str(first["msg"]).removeprefix("Value error, ")) from None


def sample_visit(settings: TenantSettings, today: date) -> datetime:
    """09:00 on the next Monday in the clinic's zone: an early visit shows what quiet hours do."""
    days = (7 - today.weekday()) % 7 or 7
    return datetime.combine(today + timedelta(days=days), time(9, 0), tzinfo=ZoneInfo(settings.timezone))


def preview(
    settings: TenantSettings, today: date, locale: str
) -> tuple[datetime, list[tuple[str, str, bool]]]:
    """When a patient in the clinic's zone, booked a month ahead, hears about a Monday 09:00 visit."""
    visit = sample_visit(settings, today)
    zone = settings.timezone
    planned = plan_reminders(
        visit,
        settings.reminder_offsets,
        tz=zone,
        quiet=settings.quiet_hours,
        known_at=visit - timedelta(days=30),
    )
    lines = []
    for reminder in planned:
        if reminder.send_at is None:
            lines.append((show_duration(reminder.offset), f"— {reminder.skip_reason}", False))
        else:
            local = reminder.send_at.astimezone(ZoneInfo(zone))
            moved = reminder.send_at != before_by(visit, reminder.offset, zone)
            when = format_datetime(local, "EEE HH:mm", locale=locale)
            lines.append((show_duration(reminder.offset), when, moved))
    return visit, lines
