"""The delivery log: every message found by patient, lifecycle, channel, provider, status and date."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.staff.clock import clinic_clock, parse_day
from api.staff.template_guide import template_names
from api.staff.web import CurrentUser, get_store, gettext, page
from domain.contacts import Channel
from store.console import PAGE_SIZE, Console, LogFilter

router = APIRouter(prefix="/staff")

KINDS = ("appointment", "lesson", "invoice", "balance", "chat", "recall", "slot", "notification")
STATUSES = ("planned", "sending", "sent", "delivered", "read", "failed", "skipped", "unknown")
CHANNELS = tuple(c.value for c in Channel)
PROVIDERS = (
    "outbox",
    "telegram",
    "whatsapp",
    "smsaero",
    "rocketsms",
    "twilio",
    "fcm",
    "webpush",
    "email",
    "webhook",
)


def console(request: Request) -> Console:
    return Console(get_store(request).engine)


def _cursor(text: str) -> tuple[datetime, int] | None:
    at, _, row_id = text.rpartition("/")
    try:
        return datetime.fromisoformat(at), int(row_id)
    except ValueError:
        return None


@router.get("/deliveries", response_class=HTMLResponse)
async def delivery_log(
    request: Request,
    user: CurrentUser,
    patient: str = "",
    kind: str = "",
    channel: str = "",
    provider: str = "",
    status: str = "",
    since: str = "",
    until: str = "",
    contact: str = "",
    subject: str = "",
    before: str = "",
) -> HTMLResponse:
    clock = await clinic_clock(get_store(request), user.tenant)
    first, last = parse_day(since), parse_day(until)
    wanted = LogFilter(
        patient=patient.strip(),
        kind=kind,
        channel=channel,
        provider=provider.strip(),
        status=status,
        since=clock.day_start(first) if first else None,
        until=clock.day_end(last) if last else None,
        contact_id=contact,
        subject=subject,
        before=_cursor(before),
    )
    rows = await console(request).search_deliveries(user.tenant, wanted)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    filters = {
        "patient": patient,
        "kind": kind,
        "channel": channel,
        "provider": provider,
        "status": status,
        "since": since,
        "until": until,
        "contact": contact,
        "subject": subject,
    }
    next_page = None
    if more:
        query = {name: value for name, value in filters.items() if value}
        query["before"] = f"{rows[-1].created_at.isoformat()}/{rows[-1].id}"
        next_page = f"/staff/deliveries?{urlencode(query)}"
    return page(
        request,
        "deliveries.html",
        user,
        rows=rows,
        filters=filters,
        kinds=KINDS,
        statuses=STATUSES,
        channels=CHANNELS,
        providers=PROVIDERS,
        clock=clock,
        next_page=next_page,
        names=template_names(gettext(request)),
    )


@router.get("/deliveries/{delivery_id}", response_class=HTMLResponse)
async def message(request: Request, user: CurrentUser, delivery_id: int) -> HTMLResponse:
    detail = await console(request).message_detail(user.tenant, delivery_id)
    if detail is None:
        return page(request, "message.html", user, status_code=404, message=f"no delivery {delivery_id}")
    clock = await clinic_clock(get_store(request), user.tenant)
    names = template_names(gettext(request))
    return page(request, "delivery.html", user, detail=detail, m=detail.entry, clock=clock, names=names)
