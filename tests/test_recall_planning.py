"""The recall planner and calendar periods as pure functions: due dates, the ladder, holds, re-arming."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from domain.events import DomainEvent
from domain.periods import add_period, parse_period
from domain.recall import fold, plan_recall
from domain.settings import TenantSettings
from tests.factories import event, patient

MOSCOW = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=MOSCOW)


def recall_set(due_at: datetime, at: datetime = T0) -> DomainEvent:
    data = {"patient": patient(), "recall_type": "hygiene", "due_at": due_at.isoformat()}
    return event("recall.set", data, received_at=at)


def visit(state: str, at: datetime, starts_at: datetime, interval: str | None = None) -> DomainEvent:
    data = {
        "appointment_id": "a-1",
        "state": state,
        "starts_at": starts_at.isoformat(),
        "at": at.isoformat(),
        "patient": patient(),
        "interval": interval,
    }
    return event("recall.visit", data, received_at=at)


def plan(*events: DomainEvent) -> list[tuple[str, datetime]]:
    result = plan_recall(fold(list(events)), TenantSettings(timezone="Europe/Moscow"), {})
    return [(m.step, m.send_at.astimezone(MOSCOW)) for m in result.messages]


def test_six_months_and_a_day_counts_calendar_months_and_keeps_the_local_time() -> None:
    assert add_period(datetime(2026, 8, 31, 10, tzinfo=BERLIN), "P6M1D", "Europe/Berlin") == datetime(
        2027, 3, 1, 10, tzinfo=BERLIN
    )
    # Summer time to winter time: still 10:00 on the wall clock.
    assert add_period(datetime(2026, 6, 1, 10, tzinfo=BERLIN), "P6M", "Europe/Berlin") == datetime(
        2026, 12, 1, 10, tzinfo=BERLIN
    )
    assert add_period(datetime(2027, 8, 29, 9, tzinfo=UTC), "P1Y6M", "UTC").date().isoformat() == "2029-02-28"
    assert parse_period("P1Y2W") == (12, 14)


@pytest.mark.parametrize("bad", ["PT1H", "P", "P0D", "P6Y", "6M", "P500D"])
def test_a_period_that_is_not_a_recall_interval_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(ValidationError) as refused:
        TenantSettings.model_validate({"recall_intervals": {"hygiene": bad}})
    assert refused.value.errors()[0]["loc"] == ("recall_intervals", "hygiene", "interval")


def test_the_short_form_names_the_recall_after_the_service() -> None:
    settings = TenantSettings.model_validate({"recall_intervals": {"hygiene": "P6M1D"}})
    assert settings.recall_intervals["hygiene"].recall_type == "hygiene"


def test_invitations_follow_the_ladder_from_the_due_date_out_of_quiet_hours() -> None:
    due = datetime(2026, 9, 1, 7, 0, tzinfo=MOSCOW)
    assert plan(recall_set(due)) == [
        ("invite-1-c1", datetime(2026, 9, 1, 9, 0, tzinfo=MOSCOW)),
        ("invite-2-c1", datetime(2026, 9, 15, 9, 0, tzinfo=MOSCOW)),
        ("invite-3-c1", datetime(2026, 10, 1, 9, 0, tzinfo=MOSCOW)),
    ]


def test_a_due_date_imported_long_past_sends_only_the_latest_missed_invitation_now() -> None:
    due = T0 - timedelta(days=20)
    assert plan(recall_set(due)) == [("invite-2-c1", T0), ("invite-3-c1", due + timedelta(days=30))]


def test_a_booked_appointment_holds_the_invitations_until_a_day_after_its_start() -> None:
    due = T0 + timedelta(days=10)
    starts_at = T0 + timedelta(days=20)
    steps = [step for step, _ in plan(recall_set(due), visit("booked", T0, starts_at))]
    assert steps == ["invite-2-c1", "invite-3-c1"]  # +14 d and +30 d fall after the visit


def test_a_completed_visit_rearms_and_a_dismissal_closes() -> None:
    due = T0 + timedelta(days=10)
    done_at = T0 + timedelta(days=20)
    events = [recall_set(due), visit("booked", T0, done_at), visit("completed", done_at, done_at, "P6M1D")]
    assert plan(*events)[0] == ("invite-1-c2", datetime(2026, 9, 23, 12, 0, tzinfo=MOSCOW))
    dismissed = event(
        "recall.dismissed", {"patient_id": "patient-1", "recall_type": "hygiene"}, received_at=done_at
    )
    result = plan_recall(fold([*events, dismissed]), TenantSettings(), {})
    assert result.messages == [] and result.close_at == done_at and result.status == "dismissed"
