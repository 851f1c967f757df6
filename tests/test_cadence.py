"""The cadence's rule as a pure function: caps per class, rolling windows, defer or drop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.cadence import CadencePolicy, CadenceRule, consent_category, decide
from domain.settings import TenantSettings

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def ago(hours: float, category: str) -> tuple[datetime, str]:
    return NOW - timedelta(hours=hours), category


def test_the_defaults_cap_reminders_and_billing_together_at_three_a_day() -> None:
    policy = TenantSettings().cadence
    two = [ago(5, "billing"), ago(2, "reminders")]
    assert decide(policy, "reminders", two, NOW) is None
    held = decide(policy, "reminders", [*two, ago(1, "reminders")], NOW)
    assert held is not None and held.until is None
    assert (
        held.reason
        == "cadence: 3 reminders and billing messages to this recipient in the last day, at most 3"
    )
    # A day is rolling: what went 25 hours ago no longer counts.
    assert decide(policy, "billing", [ago(25, "reminders"), *two], NOW) is None


def test_transactional_is_never_held_and_no_rule_may_name_it() -> None:
    flood = [ago(h / 10, "reminders") for h in range(50)]
    assert decide(TenantSettings().cadence, "transactional", flood, NOW) is None
    with pytest.raises(ValidationError):
        CadenceRule.model_validate({"categories": ["transactional"], "limit": 1, "window": "P1D"})


def test_marketing_over_its_weekly_cap_is_deferred_until_the_oldest_leaves_the_week() -> None:
    policy = TenantSettings().cadence
    sent = [ago(24 * 7 - 3, "marketing"), ago(24, "marketing")]
    held = decide(policy, "marketing", sent, NOW)
    assert held is not None and held.until == NOW + timedelta(hours=3)
    assert held.reason.startswith("cadence: 2 marketing messages to this recipient in the last 7 days")
    # ...unless the message expires first, or the wait is too long: then it is dropped.
    assert decide(policy, "marketing", sent, NOW, expires_at=NOW + timedelta(hours=1)).until is None  # type: ignore[union-attr]
    later = [ago(24, "marketing"), ago(2, "marketing")]
    assert decide(policy, "marketing", later, NOW).until is None  # type: ignore[union-attr]


def test_a_tenant_can_loosen_or_turn_off_the_cadence() -> None:
    sent = [ago(1, "reminders")] * 5
    assert decide(CadencePolicy(enabled=False), "reminders", sent, NOW) is None
    loose = CadencePolicy(rules=[CadenceRule(categories=["reminders"], limit=10, window=timedelta(days=1))])
    assert decide(loose, "reminders", sent, NOW) is None
    assert decide(loose, "billing", sent * 3, NOW) is None  # no rule for billing: never held


def test_each_template_counts_under_its_consent_category() -> None:
    assert consent_category("visit_reminder") == "reminders"
    assert consent_category("payment_nudge") == "billing"
    assert consent_category("appointment_confirmed") == "transactional"
    assert consent_category("feedback_request") == "transactional"
    assert consent_category("order_status", "marketing") == "marketing"  # a one-off declares its own
