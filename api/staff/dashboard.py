"""The dashboard: messages per day by channel and status, cost per channel, confirmation and
attendance rates, reminder lateness, failures by provider; in the clinic's days."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.staff.charts import bars, stacked_bars
from api.staff.clock import clinic_clock
from api.staff.web import CurrentUser, get_store, gettext, page
from store.dashboard import Dashboard, DayCount, Figures

router = APIRouter(prefix="/staff")
# A minute-old dashboard is as good as a live one, and 90 days of a busy clinic's log cost SQLite a
# few hundred milliseconds to count: each process keeps a tenant's figures this long.
CACHE_SECONDS = 60.0
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


async def _figures(request: Request, tenant: str, zone: str, since: datetime) -> tuple[Figures, datetime]:
    cache: dict[tuple[str, str, datetime], tuple[float, datetime, Figures]]
    cache = getattr(request.app.state, "dashboard_cache", None) or {}
    request.app.state.dashboard_cache = cache
    key = (tenant, zone, since)
    if key in cache and cache[key][0] > time.monotonic():
        return cache[key][2], cache[key][1]
    figures = await Dashboard(get_store(request).engine).figures(tenant, zone, since)
    for stale in [k for k, (expires, _, _) in cache.items() if expires <= time.monotonic()]:
        del cache[stale]
    cache[key] = (time.monotonic() + CACHE_SECONDS, datetime.now(UTC), figures)
    return figures, cache[key][1]


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
    figures, as_of = await _figures(request, user.tenant, clock.name, since)
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
        as_of=as_of,
    )
