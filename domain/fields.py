"""The values every way in accepts: ids, names, free text, moments and durations the engine can use.

What the store (PostgreSQL refuses NUL and lone surrogates), Temporal (ids, payload sizes) and
the planner (dates it can add a week to) can really handle is checked here, once, so an accepted
event is never one that fails later where nobody sees it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, PlainSerializer, StringConstraints, WithJsonSchema

# The years a lifecycle may be about: outside them a date is a typo or a probe, never a visit.
FIRST_YEAR, LAST_YEAR = 2000, 2100
# The longest delay or offset a tenant may set: a reminder a year ahead, a nudge a year late.
MAX_DURATION = timedelta(days=400)


def check_text(value: str) -> str:
    """Text the store can keep: no NUL (PostgreSQL refuses it) and no lone surrogate (not Unicode)."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode (it contains a lone surrogate)") from exc
    return value


def check_moment(value: datetime) -> datetime:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be a date between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


def check_wall_clock(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("is a local wall-clock time: write 09:00, without a UTC offset")
    return value


def check_duration(value: timedelta) -> timedelta:
    if abs(value) > MAX_DURATION:
        raise ValueError(f"must be at most {MAX_DURATION.days} days")
    return value


def iso_duration(value: timedelta) -> str:
    """ISO 8601 in days, hours, minutes and seconds (`P400D`, `P1DT2H`, `PT0S`), as RFC 3339 reads it.

    pydantic writes 400 days as `P1Y35D`: a year of 365 days no calendar has, in a form JSON Schema's
    `duration` format refuses. Below a year both write the same.
    """
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    second = f"{seconds}.{value.microseconds:06d}".rstrip("0") if value.microseconds else str(seconds)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
    if seconds or value.microseconds:
        clock += f"{second}S"
    date = f"{value.days}D" if value.days else ""
    if not date and not clock:
        return "PT0S"
    return f"{sign}P{date}" + (f"T{clock}" if clock else "")


# An identifier: aggregate ids, contact ids, codes. Workflow ids are built from them (Temporal: 1,000).
Id = Annotated[str, StringConstraints(max_length=200), AfterValidator(check_text)]
# A person's, a service's or a place's name.
Name = Annotated[str, StringConstraints(max_length=500), AfterValidator(check_text)]
# Free text: a reason, a comment, a chat preview, an address, a link.
Text = Annotated[str, StringConstraints(max_length=2000), AfterValidator(check_text)]
Moment = Annotated[AwareDatetime, AfterValidator(check_moment)]
Duration = Annotated[
    timedelta,
    AfterValidator(check_duration),
    PlainSerializer(iso_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "duration", "examples": ["PT30M", "P1D"]}),
]
# A time of day where the recipient is ("21:00"). Not JSON Schema's `time` format: that one demands
# the UTC offset a wall-clock time never has (pydantic would publish it, and send "21:00:00").
WallClock = Annotated[
    time,
    AfterValidator(check_wall_clock),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$",
            "examples": ["09:00"],
        }
    ),
]


# Any JSON a request carries, also fields we do not know (extension attributes, extra data).
MAX_DEPTH = 32
MAX_STRING = 10_000


def json_problems(value: object, path: str = "") -> list[tuple[str, str]]:
    """(path, what is wrong) for every string the store could not keep and every level too deep.

    Walked without recursion: the depth is what is being checked.
    """
    problems: list[tuple[str, str]] = []
    stack: list[tuple[object, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            problems += _string_problems(item, where)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= MAX_DEPTH:
            problems.append((where or "body", f"is nested deeper than {MAX_DEPTH} levels"))
            continue
        children = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in children:
            name = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and (bad := _string_problems(key, name)):
                # The answer names the field: a name that cannot be encoded is shown escaped.
                shown = name.encode("utf-8", "backslashreplace").decode()[:200]
                problems += [(shown, f"name {message}") for _, message in bad]
                continue
            stack.append((child, name, depth + 1))
    return sorted(problems)


def _string_problems(value: str, where: str) -> list[tuple[str, str]]:
    if len(value) > MAX_STRING:
        return [(where, f"is longer than {MAX_STRING} characters")]
    try:
        check_text(value)
    except ValueError as exc:
        return [(where, str(exc))]
    return []
