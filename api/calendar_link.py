"""`GET /c/{token}`: the public add-to-calendar link of an appointment, always at its current time.

The token names the delivery row of a message about the appointment (no personal data, signed with
NUDGEFLOW_REPLY_SECRET under its own label, so no button or deep-link token is one):
`c<delivery id, hex>_<expiry, hex>_<nonce>_<tag>`. What the link gives is read from the lifecycle
when it is opened: after a reschedule the same link gives the new time with a higher SEQUENCE, after
a cancellation a cancelled event. Apple devices get the `.ics` (Calendar opens it), Android a
Google Calendar link, anything else a page offering both.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.answers import appointment_state
from api.auth import StoreDep
from api.inbound import channels_config
from api.problems import Problem
from channels.config import reply_secret
from domain.calendar import build_ics
from domain.events import Appointment

router = APIRouter()
TOKEN = re.compile(r"^c([0-9a-f]{1,15})_([0-9a-f]{1,10})_([0-9a-f]{8})_([0-9a-f]{24})$")
LINK_TTL = timedelta(days=400)
APPLE = re.compile(r"iPhone|iPad|iPod|Macintosh|Mac OS X", re.IGNORECASE)
ANDROID = re.compile(r"Android", re.IGNORECASE)
# The answer changes with the appointment: no cache may keep an old time.
NO_STORE = {"Cache-Control": "no-store"}


def _tag(delivery_id: int, expires: int, nonce: str, secret: str) -> str:
    message = f"calendar:{delivery_id}:{expires}:{nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:24]


def calendar_token(delivery_id: int, secret: str, now: datetime) -> str:
    """The token of `/c/{token}` for the appointment a delivery is about."""
    expires = int((now + LINK_TTL).timestamp())
    nonce = secrets.token_hex(4)
    return f"c{delivery_id:x}_{expires:x}_{nonce}_{_tag(delivery_id, expires, nonce, secret)}"


def calendar_delivery(token: str, secret: str, now: datetime) -> int | None:
    match = TOKEN.match(token)
    if match is None:
        return None
    delivery_id, expires = int(match.group(1), 16), int(match.group(2), 16)
    expected = _tag(delivery_id, expires, match.group(3), secret)
    if not hmac.compare_digest(match.group(4), expected) or expires < now.timestamp():
        return None
    return delivery_id


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


@router.get("/c/{token}", include_in_schema=True)
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
