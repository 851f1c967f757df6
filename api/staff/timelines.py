"""A lifecycle's timeline for staff: the events received, what went out, what is planned next and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from babel.support import NullTranslations
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel

from api.problems import Problem
from api.staff.clock import Clock, clinic_clock
from api.staff.deliveries import KINDS, console
from api.staff.template_guide import duration, template_names
from api.staff.web import CurrentUser, get_store, gettext, page
from api.timeline import lifecycle_state
from domain.planning import PlannedMessage
from domain.quiet_hours import before_by
from store.console import LogFilter
from workflows.inputs import AppointmentState, LifecycleState

router = APIRouter(prefix="/staff")


@dataclass(frozen=True)
class PlannedLine:
    message: PlannedMessage
    when: str
    recipients_when: str
    why: str


def _starts_at(state: LifecycleState) -> datetime | None:
    if isinstance(state, AppointmentState) and state.view is not None:
        return state.view.starts_at
    details = state.summary.get("details") or {}
    text = details.get("starts_at") if isinstance(details, dict) else None
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def why(message: PlannedMessage, starts_at: datetime | None, t: NullTranslations, clock: Clock) -> str:
    """The reason a message is planned where it is: skipped, moved by quiet hours, or on its offset."""
    if message.skip_reason:
        return str(t.gettext("will be skipped: %(reason)s") % {"reason": message.skip_reason})
    offset = message.facts.offset
    if offset is None or starts_at is None:
        return ""
    due = before_by(starts_at, offset, message.recipient.timezone)
    label = duration(offset, t)
    if due != message.send_at:
        return str(
            t.gettext("%(offset)s before the start, moved by quiet hours from %(due)s")
            % {"offset": label, "due": clock.local(due)}
        )
    return str(t.gettext("%(offset)s before the start") % {"offset": label})


class Lookup(BaseModel):
    kind: str = "appointment"
    id: str = ""


@router.get("/timeline", response_model=None)
async def find_timeline(request: Request, user: CurrentUser, kind: str = "", id: str = "") -> Any:
    if kind in KINDS and id.strip():
        return RedirectResponse(f"/staff/timeline/{kind}/{id.strip()}", status_code=303)
    week_ago = datetime.now(UTC) - timedelta(days=7)
    recent = await console(request).recent_lifecycles(user.tenant, week_ago)
    clock = await clinic_clock(get_store(request), user.tenant)
    lookup = Lookup(kind=kind or "appointment")
    return page(request, "timeline.html", user, kinds=KINDS, lookup=lookup, recent=recent, clock=clock)


@router.get("/timeline/{kind}/{aggregate_id}", response_class=HTMLResponse)
async def timeline(request: Request, user: CurrentUser, kind: str, aggregate_id: str) -> HTMLResponse:
    store, t = get_store(request), gettext(request)
    clock = await clinic_clock(store, user.tenant)
    workflow_id = f"{kind}:{user.tenant}:{aggregate_id}"
    state: LifecycleState | None = None
    engine_problem = ""
    try:
        workflow_id, state = await lifecycle_state(
            request.app.state.temporal, user.tenant, kind, aggregate_id
        )
    except Problem as problem:
        # The log and the events still tell most of the story when the engine cannot answer.
        engine_problem = problem.detail if problem.status != 404 else ""
    reads = console(request)
    events = await reads.lifecycle_events(user.tenant, workflow_id)
    sent = await reads.search_deliveries(user.tenant, LogFilter(subject=f"{kind}:{aggregate_id}", limit=500))
    if state is None and not events and not sent:
        message = t.gettext("Nothing is known about %(kind)s %(id)s.") % {"kind": kind, "id": aggregate_id}
        return page(request, "message.html", user, status_code=404, message=message)
    starts_at = _starts_at(state) if state else None
    planned = [
        PlannedLine(
            message=m,
            when=clock.local(m.send_at),
            recipients_when=clock.in_zone(m.send_at, m.recipient.timezone),
            why=why(m, starts_at, t, clock),
        )
        for m in sorted(state.planned if state else [], key=lambda m: m.send_at)
    ]
    view = state.view if isinstance(state, AppointmentState) else None
    patient_zone = view.details.patient.timezone if view and view.details else None
    return page(
        request,
        "timeline.html",
        user,
        kinds=KINDS,
        lookup=Lookup(kind=kind, id=aggregate_id),
        kind=kind,
        aggregate_id=aggregate_id,
        state=state,
        view=view,
        starts_at=starts_at,
        patient_zone=patient_zone,
        engine_problem=engine_problem,
        events=events,
        sent=list(reversed(sent)),
        planned=planned,
        clock=clock,
        names=template_names(t),
    )
