"""`GET /c/{token}`: the public add-to-calendar link of an appointment, always at its current time.

The token (channels/calendar_links.py) names the delivery row of a message about the appointment,
no personal data, signed with NUDGEFLOW_REPLY_SECRET under its own label. What the link gives is
read from the lifecycle when it is opened: after a reschedule the same link gives the new time with
a higher SEQUENCE, after a cancellation a cancelled event. Apple devices get the `.ics` (Calendar
opens it), Android a Google Calendar link, anything else a page offering both.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.answers import appointment_state
from api.auth import StoreDep
from api.channels import channels_config
from api.openapi import problems
from api.problems import Problem
from channels.calendar_links import calendar_delivery
from channels.config import reply_secret
from domain.calendar import build_ics
from domain.events import Appointment

router = APIRouter()
APPLE = re.compile(r"iPhone|iPad|iPod|Macintosh|Mac OS X", re.IGNORECASE)
ANDROID = re.compile(r"Android", re.IGNORECASE)
# The answer changes with the appointment: no cache may keep an old time.
NO_STORE = {"Cache-Control": "no-store"}


def _google(details: Appointment, summary: str, location: str) -> str:
    ends_at = details.starts_at + timedelta(minutes=details.duration_minutes)
    stamp = "%Y%m%dT%H%M%SZ"
    query = {
        "action": "TEMPLATE",
        "text": summary,
        "dates": f"{details.starts_at.astimezone(UTC):{stamp}}/{ends_at.astimezone(UTC):{stamp}}",
        "location": location,
        "ctz": details.location.timezone,
    }
    return f"https://calendar.google.com/calendar/render?{urlencode(query)}"


def _page(title: str, body: str) -> HTMLResponse:
    html = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, headers=NO_STORE)


CALENDAR_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/calendar": {"schema": {"type": "string"}}}},
    302: {"description": "to Google Calendar (`to=google`, or an Android browser)"},
    **problems(404, 422),
}


@router.get("/c/{token}", response_class=HTMLResponse, responses=CALENDAR_ANSWERS)
async def add_to_calendar(token: str, request: Request, store: StoreDep, to: str | None = None) -> Response:
    """The appointment as it stands now: `.ics`, a Google Calendar link or a page offering both."""
    delivery_id = calendar_delivery(token, reply_secret(channels_config(request)), datetime.now(UTC))
    delivery = await store.get_delivery(delivery_id) if delivery_id is not None else None
    if delivery is None or not delivery.subject.startswith("appointment:"):
        raise Problem(404, "Not found", "this calendar link is unknown or has expired")
    state = await appointment_state(request, delivery.tenant, delivery.subject.partition(":")[2])
    view = state.view if state else None
    if view is None or view.details is None:
        raise Problem(404, "Not found", "this appointment is not known (any more)")
    details = view.details
    cancelled = view.status.value in ("cancelled", "rejected")
    summary = f"{details.service.name} — {details.doctor.name}"
    location = f"{details.location.name}, {details.location.address}".strip(", ")
    agent = request.headers.get("user-agent", "")
    if to == "ics" or (to is None and APPLE.search(agent)):
        ics = build_ics(
            uid=f"{details.appointment_id}@nudgeflow",  # the uid of the emailed invitation
            starts_at=details.starts_at,
            ends_at=details.starts_at + timedelta(minutes=details.duration_minutes),
            summary=summary,
            description="",
            location=location,
            timezone=details.location.timezone,
            sequence=view.schedule_version,
            cancelled=cancelled,
        )
        return Response(
            ics,
            media_type=f"text/calendar; charset=utf-8; method={'CANCEL' if cancelled else 'REQUEST'}",
            headers={
                "Content-Disposition": 'inline; filename="appointment.ics"',
                "Cache-Control": "no-store",
            },
        )
    if cancelled:
        return _page(f"Cancelled: {summary}", f"<p>{escape(location)}</p><p><a href='?to=ics'>.ics</a></p>")
    google = _google(details, summary, location)
    if to == "google" or (to is None and ANDROID.search(agent)):
        return RedirectResponse(google, status_code=302, headers=NO_STORE)
    return _page(
        summary,
        f"<p>{escape(location)}</p><ul>"
        f"<li><a href='?to=ics'>Apple Calendar, Outlook (.ics)</a></li>"
        f"<li><a href='{escape(google)}'>Google Calendar</a></li></ul>",
    )
