"""The cadence in the send path: before the claim, what this recipient was sent lately decides.

Called by the send activity for every message (activities/send.py), so it holds across every
lifecycle; the rule itself is pure (domain/cadence.py), the count is one query on the delivery log
(store/deliveries.py recent_sends), asked in the send's one read before it renders (`counting`).
Two sends to one recipient racing in the same instant may both pass (the count is read, not
locked): the cap can be exceeded by the sends in flight at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from temporalio.exceptions import ApplicationError

from activities.models import SendMessageInput
from domain.cadence import MAX_DEFER, consent_category, decide, routing_category
from domain.consent import ConsentCategory
from domain.contacts import Contact
from domain.deliveries import Delivery, DeliveryDraft, DeliveryOutcome, DeliveryStatus
from domain.quiet_hours import fit_quiet_hours
from domain.settings import TenantSettings
from store import Store
from store.db import RecentSends

# A tenant's settings as the cadence read them lately: one query fewer per send; a change to the
# cadence takes effect within this long.
SETTINGS_TTL = 30.0
_recent_settings: dict[tuple[int, str], tuple[float, TenantSettings]] = {}


async def _settings(store: Store, tenant: str) -> TenantSettings:
    now = time.monotonic()
    key = (id(store), tenant)
    cached = _recent_settings.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    settings = await store.get_settings(tenant)
    if len(_recent_settings) > 10_000:
        _recent_settings.clear()
    _recent_settings[key] = (now + SETTINGS_TTL, settings)
    return settings


def cadence_category(input: SendMessageInput) -> str | None:
    """What the delivery is counted as: a one-off's declared category, else its template's; staff
    messages count as nothing."""
    if input.message.audience == "staff":
        return None
    declared = input.notification.category if input.notification is not None else None
    return consent_category(input.message.template, declared).value


@dataclass(frozen=True)
class Counting:
    """What the cadence must count before a message goes: asked in the send's one read (`question`)."""

    settings: TenantSettings
    category: str
    now: datetime
    question: RecentSends


async def counting(
    store: Store, input: SendMessageInput, contact_id: str, moment: datetime
) -> Counting | None:
    """None: nothing to count (a staff or transactional message, or no rule for its category)."""
    category = cadence_category(input)
    if category is None or category == ConsentCategory.TRANSACTIONAL:
        return None
    # Never before the message's own moment (a worker's clock behind the workflow's: a local attempt
    # in a time-skipping test knows only the real time).
    now = max(moment, input.message.send_at)
    settings = await _settings(store, input.tenant)
    rules = settings.cadence.rules_for(category)
    if not rules:
        return None
    since = now - max(rule.window for rule in rules)
    counted: list[str] = sorted({name for rule in rules for name in rule.categories})
    return Counting(settings, category, now, RecentSends(contact_id, counted, since))


async def hold_for_cadence(
    store: Store,
    input: SendMessageInput,
    recipient: Contact,
    row: DeliveryDraft,
    counted: Counting | None,
    sent: list[tuple[datetime, str]] | None,
) -> str | None:
    """None: send it. A reason: record it skipped. A deferral raises, so the activity retries then."""
    category = cadence_category(input)
    if category is None:
        return None
    if input.notification is not None and routing_category(ConsentCategory(category)) in recipient.opted_out:
        # A one-off declares its category; the router only knows templates' (domain/routing.py).
        return "recipient opted out of this category"
    if counted is None:
        return None
    settings, now, policy = counted.settings, counted.now, counted.settings.cadence
    hold = decide(policy, counted.category, sent or [], now, input.message.expires_at)
    if hold is None:
        return None
    if hold.until is not None:
        # Never into the recipient's night: the first allowed moment from then, if it comes in time.
        expires = input.message.expires_at
        until = fit_quiet_hours(
            hold.until, settings.quiet_hours, recipient.timezone, deadline=expires, not_before=hold.until
        )
        if until is not None and until <= now + MAX_DEFER:
            reason = f"{hold.reason}; deferred to {until.isoformat()}"
            # The row says why it waits, and the activity's next attempt comes then.
            if not isinstance(row, Delivery):
                row, _ = await store.begin_delivery(row)
            await store.move_delivery(
                row.id,
                DeliveryOutcome(status=DeliveryStatus.PLANNED, reason=reason),
                [DeliveryStatus.PLANNED],
            )
            raise ApplicationError(reason, type="CadenceDeferred", next_retry_delay=until - now)
    return hold.reason
