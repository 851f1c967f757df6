"""The one-off's planner as a pure function: when it goes, in whose time, and when it does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.events import DomainEvent
from domain.notification import fold, plan_notification, send_moment
from domain.settings import TenantSettings
from tests.factories import event

BERLIN_CONTACT = {"id": "c-1", "name": "Jana", "locale": "de", "timezone": "Europe/Berlin"}


def requested(received_at: datetime, **fields: Any) -> DomainEvent:
    data = {
        "notification_id": "n-1",
        "contact": BERLIN_CONTACT,
        "template": "order_status",
        "data": {"order_id": "1", "status": "shipped"},
        "category": "transactional",
        **fields,
    }
    return event("notification.requested", data, received_at=received_at)


def planned(*events: DomainEvent) -> Any:
    return plan_notification(fold(list(events)), TenantSettings(), {})


def test_send_at_without_an_offset_is_the_contacts_wall_clock_even_on_a_dst_night() -> None:
    winter = fold([requested(datetime(2026, 1, 1, tzinfo=UTC), send_at="2026-01-15T09:00:00")])
    assert send_moment(winter.notification) == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)  # type: ignore[arg-type]
    # 02:30 does not exist in Berlin on 29 March 2026: it is read as 03:30 local, never earlier.
    gap = fold([requested(datetime(2026, 1, 1, tzinfo=UTC), send_at="2026-03-29T02:30:00")])
    assert send_moment(gap.notification) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # type: ignore[arg-type]
    # With an offset it is that instant, wherever the contact lives.
    given = fold([requested(datetime(2026, 1, 1, tzinfo=UTC), send_at="2026-01-15T09:00:00+03:00")])
    assert send_moment(given.notification) == datetime(2026, 1, 15, 6, 0, tzinfo=UTC)  # type: ignore[arg-type]


def test_at_night_transactional_goes_at_once_and_marketing_waits_for_the_morning() -> None:
    night = datetime(2026, 1, 15, 22, 30, tzinfo=UTC)  # 23:30 in Berlin
    [now] = planned(requested(night)).messages
    assert now.send_at == night and now.skip_reason is None
    [morning] = planned(requested(night, category="marketing")).messages
    assert morning.send_at == datetime(2026, 1, 16, 8, 0, tzinfo=UTC)  # 09:00 in Berlin


def test_a_second_request_for_the_same_id_changes_nothing() -> None:
    at = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    first = requested(at, send_at="2026-01-15T15:00:00")
    again = requested(at + timedelta(minutes=5), send_at="2026-01-15T16:00:00", template="manager_note")
    plan = planned(first, again)
    [message] = plan.messages
    assert (message.step, message.template) == ("send", "order_status")
    assert plan.view.duplicates == 1


def test_one_due_after_it_expires_is_skipped_with_the_reason() -> None:
    at = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    late = requested(at, send_at="2026-01-15T15:00:00", expires_at="2026-01-15T13:00:00+01:00")
    [message] = planned(late).messages
    assert (message.skip_reason or "").startswith("expired: due at 2026-01-15T14:00:00+00:00")
