"""The cadence: how many messages one recipient gets, across every lifecycle, by priority class.

A recipient hears from an appointment, a lesson, an invoice, a recall, a waitlist offer and one-off
notifications, each its own workflow; none of them knows what the others sent. The cadence is the
one place that does: just before a message is sent, the messages this recipient was sent in the
rule's window are counted by consent category (domain/consent.py), across all of them.

- `transactional` (confirmations, cancellations, feedback, an order's status) is never held: no rule
  may name it.
- Each rule caps a class (default: reminders and billing together, 3 a day; marketing, 2 a week) in a
  rolling window ending now, counted by the moment each message was due.
- Over the cap a message is dropped (recorded `skipped`, "cadence: ...") or, if the rule says
  `defer`, waits until enough of the window has passed, as long as that comes before the message
  expires and within MAX_DEFER; otherwise it is dropped too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from domain.consent import ROUTING_CATEGORIES, ConsentCategory
from domain.fields import Duration
from domain.routing import category_of

# A deferred message waits for a regular activity retry; past this it is dropped instead (a send's
# retries run within a day when the message has no expiry of its own).
MAX_DEFER = timedelta(hours=20)
HeldCategory = Literal["reminders", "billing", "marketing"]


class CadenceRule(BaseModel):
    """At most `limit` messages of `categories` (together) to one recipient per rolling `window`."""

    categories: list[HeldCategory] = Field(min_length=1, max_length=3)
    limit: int = Field(ge=0, le=1000)
    window: Duration
    over_cap: Literal["drop", "defer"] = "drop"

    @field_validator("window")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value


def _default_rules() -> list[CadenceRule]:
    return [
        CadenceRule(categories=["reminders", "billing"], limit=3, window=timedelta(days=1)),
        CadenceRule(categories=["marketing"], limit=2, window=timedelta(days=7), over_cap="defer"),
    ]


class CadencePolicy(BaseModel):
    """A tenant's cadence (TenantSettings.cadence); `enabled: false` holds nothing."""

    enabled: bool = True
    rules: list[CadenceRule] = Field(default_factory=_default_rules, max_length=10)

    def rules_for(self, category: str) -> list[CadenceRule]:
        if not self.enabled:
            return []
        return [rule for rule in self.rules if category in rule.categories]


class Hold(BaseModel):
    """Why a message is not sent now; `until` set: it may wait until then (the send path still fits
    it into the recipient's quiet hours), else it is dropped."""

    reason: str
    until: datetime | None = None


_BY_ROUTING = {name: category for category, names in ROUTING_CATEGORIES.items() for name in names}


def consent_category(template: str, declared: str | None = None) -> ConsentCategory:
    """The message's consent category: declared by the event (a one-off names its own), else the
    router's category of its template (`visit_reminder` -> reminders, `payment_nudge` -> billing)."""
    if declared is not None:
        return ConsentCategory(declared)
    return _BY_ROUTING.get(category_of(template), ConsentCategory.TRANSACTIONAL)


def routing_category(category: ConsentCategory) -> str:
    """The router's word for a consent category (what `opted_out` lists): billing -> payments."""
    return ROUTING_CATEGORIES[category][0]


def _window_label(window: timedelta) -> str:
    if window % timedelta(days=1) == timedelta(0):
        days = window // timedelta(days=1)
        return "day" if days == 1 else f"{days} days"
    return f"{window.total_seconds() / 3600:g} h"


def decide(
    policy: CadencePolicy,
    category: str,
    sent: Sequence[tuple[datetime, str]],
    now: datetime,
    expires_at: datetime | None = None,
) -> Hold | None:
    """None: send it. `sent`: (moment, category) of what this recipient was sent recently."""
    for rule in policy.rules_for(category):
        since = now - rule.window
        counted = sorted(at for at, sent_category in sent if sent_category in rule.categories and at > since)
        if len(counted) < rule.limit:
            continue
        classes = " and ".join(rule.categories)
        reason = (
            f"cadence: {len(counted)} {classes} messages to this recipient in the last "
            f"{_window_label(rule.window)}, at most {rule.limit}"
        )
        # Enough of them leave the window when the (count - limit + 1)-th oldest does.
        free_at = counted[len(counted) - rule.limit] + rule.window if rule.limit else None
        latest = min(now + MAX_DEFER, expires_at) if expires_at is not None else now + MAX_DEFER
        if rule.over_cap == "defer" and free_at is not None and free_at <= latest:
            return Hold(reason=reason, until=free_at)
        return Hold(reason=reason)
    return None
