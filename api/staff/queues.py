"""Work queues: bookings waiting for confirmation against their SLA, failed and unknown deliveries,
low ratings; each item acknowledged by a named staff user."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from babel.support import NullTranslations
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.staff.clock import clinic_clock
from api.staff.template_guide import template_names
from api.staff.web import Csrf, CurrentUser, get_store, gettext, page, require_role
from store.queues import QUEUES, Queues
from store.staff import Role

router = APIRouter(prefix="/staff")
# A booking this close to its deadline is marked, so it is confirmed before it becomes late.
NEAR_DEADLINE = timedelta(minutes=10)


def queues(request: Request) -> Queues:
    return Queues(get_store(request).engine)


def countdown(deadline: datetime, now: datetime, t: NullTranslations) -> tuple[str, str]:
    """What the SLA column says and its class: `overdue`, `soon` or ``."""
    left = deadline - now
    minutes = int(abs(left).total_seconds() // 60)
    span = f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
    if left < timedelta(0):
        return str(t.gettext("overdue by %(span)s") % {"span": span}), "overdue"
    return str(t.gettext("%(span)s left") % {"span": span}), "soon" if left <= NEAR_DEADLINE else ""


@router.get("/queues", response_class=HTMLResponse)
async def work_queues(request: Request, user: CurrentUser) -> HTMLResponse:
    store, reads, t = get_store(request), queues(request), gettext(request)
    settings = await store.get_settings(user.tenant)
    clock = await clinic_clock(store, user.tenant)
    now = datetime.now(UTC)
    bookings = await reads.waiting_bookings(user.tenant, settings.confirmation_sla, now)
    return page(
        request,
        "queues.html",
        user,
        bookings=[(booking, *countdown(booking.deadline, now, t)) for booking in bookings],
        failed=await reads.failed_deliveries(user.tenant),
        ratings=await reads.low_ratings(user.tenant, settings.low_rating_threshold, now),
        replies=await reads.unknown_replies(user.tenant, now),
        acknowledged=await reads.recent_acknowledgements(user.tenant),
        threshold=settings.low_rating_threshold,
        sla=int(settings.confirmation_sla.total_seconds() // 60),
        clock=clock,
        names=template_names(t),
    )


@router.post("/queues/{queue}/ack", dependencies=[Csrf])
async def acknowledge(
    request: Request, user: CurrentUser, queue: str, item: Annotated[str, Form(max_length=500)]
) -> RedirectResponse:
    require_role(user, Role.EDITOR)
    if queue not in QUEUES:
        raise HTTPException(404, f"no queue {queue!r}")
    # The item is only a key: acknowledging another tenant's id hides nothing of theirs (keys are per tenant).
    await queues(request).acknowledge(user.tenant, queue, item, user.email)
    return RedirectResponse(f"/staff/queues#{queue}", status_code=303)
