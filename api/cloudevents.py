"""CloudEvents 1.0 over HTTP: structured, batch and binary modes into validated envelopes."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel, ValidationError

from api.problems import FieldError, Problem, field_errors
from domain.events import EVENT_DATA, CloudEvent
from domain.fields import json_problems

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
# Start times this far in the past are refused: clocks differ, a late event is not a past visit.
CLOCK_SKEW = timedelta(minutes=5)
FUTURE_FIELDS = {
    "appointment.requested": "starts_at",
    "appointment.confirmed": "starts_at",
    "appointment.rescheduled": "starts_at",
    "lesson.scheduled": "starts_at",
    "lesson.rescheduled": "starts_at",
}
BINARY_ATTRIBUTES = (
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "tenant",
    "sequence",
    "dataschema",
)


class ParsedEvent(BaseModel):
    envelope: CloudEvent
    data: BaseModel


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError as exc:
        raise Problem(400, "Malformed JSON", "the body is nested too deep") from exc
    except ValueError as exc:  # also JSONDecodeError, UnicodeDecodeError, an integer of 5,000 digits
        raise Problem(400, "Malformed JSON", f"the body is not valid JSON: {str(exc)[:200]}") from exc


def _header(headers: dict[str, str], name: str) -> str:
    """A binary-mode attribute: percent-decoded UTF-8, as the CloudEvents HTTP binding writes them.

    Decoded, `ce-id: caf%C3%A9` and `"id": "café"` are the same event.
    """
    value = headers[name]
    try:
        # The server read the header bytes as Latin-1; a client that sent raw UTF-8 gets it back.
        value = value.encode("latin-1").decode("utf-8")
        return unquote(value, errors="strict")
    except UnicodeError as exc:
        raise Problem(
            400,
            "Malformed header",
            f"{name} is not percent-encoded UTF-8",
            [FieldError(field=name, message=str(exc))],
        ) from exc


def raw_events(content_type: str, headers: dict[str, str], body: bytes) -> tuple[list[Any], bool]:
    """The event objects in a request, and whether it was a batch."""
    media = content_type.split(";")[0].strip().lower()
    if media == BATCH:
        events = _json(body)
        if not isinstance(events, list) or not events:
            raise Problem(400, "Malformed batch", "a batch is a non-empty JSON array of events")
        return events, True
    if "ce-specversion" in headers:
        attributes: dict[str, Any] = {
            name: _header(headers, f"ce-{name}") for name in BINARY_ATTRIBUTES if f"ce-{name}" in headers
        }
        attributes["datacontenttype"] = media or None
        attributes["data"] = _json(body) if body else None
        return [attributes], False
    if media in (STRUCTURED, "application/json"):
        return [_json(body)], False
    raise Problem(
        415, "Unsupported media type", f"send {STRUCTURED}, {BATCH}, or binary mode with ce-* headers"
    )


def _future(event: CloudEvent, data: BaseModel, now: datetime) -> list[FieldError]:
    name = FUTURE_FIELDS.get(event.type)
    value = getattr(data, name, None) if name else None
    if isinstance(value, datetime) and value < now - CLOCK_SKEW:
        return [FieldError(field=f"data.{name}", message="is in the past")]
    return []


def validate(
    raw: Any, tenant: str, prefix: str, now: datetime | None = None
) -> tuple[ParsedEvent | None, list[FieldError], bool]:
    """One event's envelope and data; its field errors; whether its type is unknown."""
    now = now or datetime.now(UTC)
    if not isinstance(raw, dict):
        return None, [FieldError(field=prefix or "body", message="an event is a JSON object")], False
    unusable = json_problems(raw, prefix)
    if unusable:
        return None, [FieldError(field=field, message=message) for field, message in unusable], False
    try:
        envelope = CloudEvent.model_validate(raw)
    except ValidationError as exc:
        return None, field_errors(exc, prefix), False
    where = f"{prefix}." if prefix else ""
    if envelope.tenant is not None and envelope.tenant != tenant:
        return (
            None,
            [FieldError(field=f"{where}tenant", message="does not match the API key's tenant")],
            False,
        )
    model = EVENT_DATA.get(envelope.type)
    if model is None:
        return None, [FieldError(field=f"{where}type", message=f"unknown event type {envelope.type!r}")], True
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as exc:
        return None, field_errors(exc, f"{where}data"), False
    errors = [FieldError(field=f"{where}{e.field}", message=e.message) for e in _future(envelope, data, now)]
    return (None if errors else ParsedEvent(envelope=envelope, data=data)), errors, False


def parse(content_type: str, headers: dict[str, str], body: bytes, tenant: str) -> list[ParsedEvent]:
    """Every event of the request, or a Problem naming every bad field; all or nothing."""
    items, batch = raw_events(content_type, headers, body)
    parsed: list[ParsedEvent] = []
    errors: list[FieldError] = []
    unknown = False
    for index, raw in enumerate(items):
        event, problems, unknown_type = validate(raw, tenant, f"[{index}]" if batch else "")
        unknown |= unknown_type
        errors += problems
        if event is not None:
            parsed.append(event)
    if errors:
        title = "Unknown event type" if unknown else "Invalid event"
        raise Problem(422, title, "nothing was accepted; fix the fields named below", errors)
    return parsed
