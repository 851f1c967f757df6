"""The dashboard: messages per day by channel and status, cost per channel, confirmation and
attendance rates, reminder lateness, failures by provider; in the clinic's days."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.staff.charts import bars, stacked_bars
from api.staff.clock import clinic_clock
from api.staff.web import CurrentUser, get_store, gettext, page
from store.dashboard import Dashboard, DayCount

router = APIRouter(prefix="/staff")
PERIODS = (7, 14, 30, 90)
STATUS_ORDER = ("read", "delivered", "sent", "sending", "planned", "skipped", "unknown", "failed")


def _series(days: list[date], rows: list[DayCount], by: str, value: str) -> dict[str, list[float]]:
    index = {day: i for i, day in enumerate(days)}
    series: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(days))
    for row in rows:
        if row.day in index:
            series[getattr(row, by)][index[row.day]] += getattr(row, value)
    if by == "status":
        return {s: series[s] for s in sorted(series, key=lambda s: (*STATUS_ORDER, s).index(s))}
    return dict(sorted(series.items()))


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "—"


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, user: CurrentUser, days: int = 14) -> HTMLResponse:
    store, t = get_store(request), gettext(request)
    days = days if days in PERIODS else 14
    clock = await clinic_clock(store, user.tenant)
    today = datetime.now(UTC).astimezone(clock.zone).date()
    calendar = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    since = clock.day_start(calendar[0])
    figures = await Dashboard(store.engine).figures(user.tenant, clock.name, since)
    labels = [day.strftime("%d.%m") for day in calendar]
    events = figures.events
    completed, no_show = events.get("appointment.completed", 0), events.get("appointment.no_show", 0)
    answered_yes, answered_no = events.get("attendance.confirmed", 0), events.get("attendance.declined", 0)
    charts = {
        "by-channel": stacked_bars(
            labels,
            _series(calendar, figures.days, "channel", "messages"),
            title=t.gettext("Messages per day by channel"),
            chart_id="by-channel",
        ),
        "by-status": stacked_bars(
            labels,
            _series(calendar, figures.days, "status", "messages"),
            title=t.gettext("Messages per day by status"),
            chart_id="by-status",
        ),
        "cost": stacked_bars(
            labels,
            _series(calendar, figures.days, "channel", "cost"),
            title=t.gettext("Cost per day by channel"),
            chart_id="cost",
        ),
        "failures": bars(
            figures.failures_by_provider,
            title=t.gettext("Failed and unknown by provider"),
            chart_id="failures",
        ),
    }
    total = sum(row.messages for row in figures.days)
    cost = sum(row.cost for row in figures.days)
    return page(
        request,
        "dashboard.html",
        user,
        days=days,
        periods=PERIODS,
        charts=charts,
        total=total,
        cost=cost,
        figures=figures,
        confirmation_rate=_rate(figures.requested_confirmed, figures.requested),
        attendance_rate=_rate(completed, completed + no_show),
        answered_rate=_rate(answered_yes, answered_yes + answered_no),
        completed=completed,
        no_show=no_show,
        clock=clock,
    )
