"""The payment lifecycle as pure functions: nudges with the pay link until paid, then a manager."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from domain.contacts import Contact
from domain.events import Balance, DomainEvent, Invoice, fold_into, ordered
from domain.planning import LifecyclePlan, MessageFacts, Planner, StepRecord
from domain.quiet_hours import before_by
from domain.settings import TenantSettings

ORPHAN_TTL = timedelta(days=7)
STOP_TYPES = frozenset({"invoice.paid", "balance.topped_up"})


class PaymentStatus(StrEnum):
    AWAITING_DETAILS = "awaiting_details"
    NUDGING = "nudging"
    PAID = "paid"


class PaymentView(BaseModel):
    status: PaymentStatus = PaymentStatus.AWAITING_DETAILS
    invoice: Invoice | None = None
    balance: Balance | None = None
    # A series of nudges; a balance that runs low again after a top-up starts the next one.
    series: int = 0
    opened_at: datetime | None = None
    status_at: datetime | None = None
    first_event_at: datetime | None = None
    # When the payer pressed "I've paid" in this series: nudges hold, staff are asked to check.
    reported_at: datetime | None = None

    @property
    def payer(self) -> Contact | None:
        if self.invoice is not None:
            return self.invoice.contact
        return self.balance.contact if self.balance is not None else None


def apply(view: PaymentView, event: DomainEvent) -> None:
    at = event.received_at
    view.first_event_at = view.first_event_at or at
    data = event.parsed()
    if event.type in STOP_TYPES:
        view.status, view.status_at = PaymentStatus.PAID, at
    elif isinstance(data, Invoice):
        view.invoice = data
        if view.status is PaymentStatus.AWAITING_DETAILS:
            view.status, view.status_at, view.opened_at, view.series = PaymentStatus.NUDGING, at, at, 1
    elif isinstance(data, Balance):
        view.balance = data
        # Already nudging: the same series goes on; a second `balance.low` starts nothing new.
        if view.status is not PaymentStatus.NUDGING:
            view.status, view.status_at, view.opened_at = PaymentStatus.NUDGING, at, at
            view.series, view.reported_at = view.series + 1, None
    elif event.type == "payment.reported" and view.status is PaymentStatus.NUDGING:
        view.reported_at = view.reported_at or at


def stopped(events: list[DomainEvent]) -> bool:
    """Paid or topped up as of the newest event, without the local-time planner (safe in a query)."""
    last = [
        event for event in ordered(events) if event.type in STOP_TYPES | {"balance.low", "invoice.issued"}
    ]
    return bool(last) and last[-1].type in STOP_TYPES


def fold(events: list[DomainEvent]) -> PaymentView:
    return fold_into(PaymentView(), events, apply)


class PaymentPlan(LifecyclePlan):
    view: PaymentView

    @property
    def status(self) -> str:
        return self.view.status.value

    def send_fields(self) -> dict[str, Any]:
        return {"invoice": self.view.invoice, "balance": self.view.balance}


def plan_payment(view: PaymentView, settings: TenantSettings, done: Mapping[str, StepRecord]) -> PaymentPlan:
    """Nudges on the tenant's schedule in the payer's allowed hours; a manager after the last one."""
    payer = view.payer
    if view.status is PaymentStatus.PAID:
        assert view.status_at is not None
        return PaymentPlan(view=view, close_at=view.status_at)
    if payer is None or view.opened_at is None:
        assert view.first_event_at is not None
        return PaymentPlan(view=view, close_at=view.first_event_at + ORPHAN_TTL)
    p = Planner(settings, done, staff_timezone=settings.timezone)
    anchor = view.invoice.due_at if view.invoice is not None else view.opened_at
    moments = [before_by(anchor, -offset, payer.timezone) for offset in settings.payment_nudge_offsets]
    # Nudges whose moment passed before the lifecycle began are skipped, except the latest: one goes now.
    missed = [i for i, moment in enumerate(moments) if moment < view.opened_at]
    template = "payment_nudge" if view.invoice is not None else "balance_nudge"
    count = len(moments)
    for i, moment in enumerate(moments):
        step = f"nudge-{i + 1}-s{view.series}"
        if i in missed[:-1]:
            reason = "too late: the nudge's moment passed before it was issued"
            p.to_contact(
                step,
                template,
                "payer",
                payer,
                view.opened_at,
                deadline=None,
                expires_at=None,
                skip_reason=reason,
            )
            continue
        due = max(moment, view.opened_at)
        if view.reported_at is not None and due > view.reported_at:
            reason = "the payer says it is paid: staff were asked to check"
            p.to_contact(
                step,
                template,
                "payer",
                payer,
                view.reported_at,
                deadline=None,
                expires_at=None,
                skip_reason=reason,
            )
            continue
        expires = moments[i + 1] if i + 1 < count else None
        p.to_contact(
            step,
            template,
            "payer",
            payer,
            due,
            deadline=None,
            expires_at=expires,
            facts=MessageFacts(nudge=i + 1, nudges=count),
        )
    if view.reported_at is not None:
        p.to_staff(f"reported-s{view.series}", "staff_payment_reported", view.reported_at)
    last = done.get(f"nudge-{count}-s{view.series}")
    # A nudge held by "I've paid" is done early: still unpaid after the last moment, a manager hears.
    escalate_at = (max(last.at, moments[-1]) if last else moments[-1]) + settings.payment_escalation_delay
    if last is not None:
        p.to_staff(
            f"escalate-s{view.series}", "staff_payment_overdue", escalate_at, facts=MessageFacts(nudges=count)
        )
    return PaymentPlan(view=view, messages=p.messages, close_at=max(escalate_at, moments[-1]))
