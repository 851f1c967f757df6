"""`GET /v1/reports/costs`: messages and their cost per day × channel × provider, and the saving."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import StoreDep, Tenant
from api.openapi import TENANT_PROBLEMS
from api.problems import FieldError, Problem
from domain.costs import CostReport, cost_report
from domain.fields import FIRST_YEAR, LAST_YEAR
from store.reports import CostLedger

router = APIRouter(responses=TENANT_PROBLEMS)
# A year and a day: a year's report, whatever the leap years.
LONGEST_SPAN = timedelta(days=366)


def _check(start: date, end: date) -> None:
    errors = [
        FieldError(field=f"query.{name}", message=f"must be a date in the years {FIRST_YEAR}-{LAST_YEAR}")
        for name, value in (("from", start), ("to", end))
        if not FIRST_YEAR <= value.year <= LAST_YEAR
    ]
    if not errors and end < start:
        errors.append(FieldError(field="query.to", message="must not be before `from`"))
    if not errors and end - start >= LONGEST_SPAN:
        errors.append(FieldError(field="query.to", message="at most 366 days after `from`"))
    if errors:
        raise Problem(422, "Invalid request", "fix the fields named below", errors)


@router.get("/v1/reports/costs", response_model=CostReport, response_model_by_alias=True)
async def costs(
    tenant: Tenant,
    store: StoreDep,
    start: Annotated[date, Query(alias="from", description="first day, in the tenant's timezone")],
    end: Annotated[date, Query(alias="to", description="last day, included")],
) -> CostReport:
    """Messages that left (sent, delivered or read) and what they cost at the tenant's
    `message_prices`, per day × channel × provider; `saving`: messages on a free channel (Telegram,
    push, web push) to a contact with a phone, each an SMS not sent, at that SMS's price."""
    _check(start, end)
    settings = await store.get_settings(tenant)
    sent = await CostLedger(store.engine).sent(tenant, start, end, settings.timezone)
    return cost_report(sent, settings.message_prices, start, end, settings.timezone)
