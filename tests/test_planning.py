"""Pure planning: calendar-day offsets across DST, quiet hours, stale reminders, event order."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from activities import release
from domain.appointment import AppointmentStatus, fold, is_urgent_booking, plan_appointment
from domain.events import DomainEvent
from domain.planning import DoneReads, StepRecord, plan_reminders
from domain.quiet_hours import before_by, fit_quiet_hours, next_open
from domain.settings import DailyWindow, TenantSettings
from tests.factories import appointment, event

BERLIN = ZoneInfo("Europe/Berlin")
MOSCOW = ZoneInfo("Europe/Moscow")
QUIET = DailyWindow(start=time(21, 0), end=time(9, 0))


def test_day_before_a_visit_after_spring_forward_is_the_same_wall_clock_time() -> None:
    visit = datetime(2027, 3, 28, 10, 0, tzinfo=BERLIN)  # Berlin moves to CEST at 02:00 that day
    reminder = before_by(visit, timedelta(hours=24), "Europe/Berlin")
    assert reminder.astimezone(BERLIN).hour == 10
    assert visit - reminder == timedelta(hours=23)


def test_day_before_a_visit_after_fall_back_is_the_same_wall_clock_time() -> None:
    visit = datetime(2026, 10, 26, 9, 30, tzinfo=BERLIN)
    reminder = before_by(visit, timedelta(days=1, hours=2), "Europe/Berlin")
    assert reminder.astimezone(BERLIN) == datetime(2026, 10, 25, 7, 30, tzinfo=BERLIN)


def test_reminder_in_quiet_hours_moves_to_the_morning_if_that_is_still_before_the_visit() -> None:
    visit = datetime(2026, 12, 1, 10, 0, tzinfo=MOSCOW)
    due = visit - timedelta(hours=2)  # 08:00, quiet until 09:00
    moved = fit_quiet_hours(due, QUIET, "Europe/Moscow", deadline=visit, not_before=due - timedelta(days=1))
    assert moved == datetime(2026, 12, 1, 9, 0, tzinfo=MOSCOW)


def test_reminder_in_quiet_hours_moves_to_the_evening_before_when_the_morning_is_too_late() -> None:
    visit = datetime(2026, 12, 1, 8, 30, tzinfo=MOSCOW)
    due = visit - timedelta(hours=2)
    moved = fit_quiet_hours(due, QUIET, "Europe/Moscow", deadline=visit, not_before=due - timedelta(days=2))
    assert moved == datetime(2026, 11, 30, 21, 0, tzinfo=MOSCOW)


def test_reminder_is_dropped_when_quiet_hours_leave_no_moment() -> None:
    visit = datetime(2026, 12, 1, 8, 30, tzinfo=MOSCOW)
    known = datetime(2026, 11, 30, 23, 0, tzinfo=MOSCOW)  # booked at night
    [late, early] = plan_reminders(
        visit, [timedelta(hours=24), timedelta(hours=2)], tz="Europe/Moscow", quiet=QUIET, known_at=known
    )
    assert late.send_at is None and "too late" in (late.skip_reason or "")
    assert early.send_at is None and "quiet hours" in (early.skip_reason or "")


def test_quiet_hours_follow_the_recipients_timezone_not_the_servers() -> None:
    due = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # 08:00 in Moscow, 06:00 in Berlin
    assert fit_quiet_hours(due, QUIET, "Europe/Moscow", deadline=None, not_before=due) == datetime(
        2026, 12, 1, 9, 0, tzinfo=MOSCOW
    )
    assert fit_quiet_hours(due, QUIET, "Europe/Berlin", deadline=None, not_before=due) == datetime(
        2026, 12, 1, 9, 0, tzinfo=BERLIN
    )


def test_next_opening_of_business_hours() -> None:
    hours = DailyWindow(start=time(9, 0), end=time(20, 0))
    night = datetime(2026, 12, 1, 23, 30, tzinfo=MOSCOW)
    assert next_open(night, hours, "Europe/Moscow") == datetime(2026, 12, 2, 9, 0, tzinfo=MOSCOW)
    noon = datetime(2026, 12, 1, 12, 0, tzinfo=MOSCOW)
    assert next_open(noon, hours, "Europe/Moscow") == noon


def test_rescheduled_arriving_before_its_confirmed_is_applied_in_sequence_order() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    first = datetime(2026, 12, 5, 10, 0, tzinfo=MOSCOW)
    moved = datetime(2026, 12, 6, 15, 0, tzinfo=MOSCOW)
    reschedule = event(
        "appointment.rescheduled",
        {"appointment_id": "a", "starts_at": moved.isoformat(), "duration_minutes": 45},
        received_at=now,
        sequence=3,
    )
    confirm = event("appointment.confirmed", appointment("a", first), received_at=now, sequence=2)
    view = fold([reschedule, confirm])
    assert view.status is AppointmentStatus.CONFIRMED
    assert view.starts_at == moved and view.details is not None and view.details.duration_minutes == 45


def test_a_late_confirmed_does_not_revive_a_cancelled_appointment() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    starts = datetime(2026, 12, 5, 10, 0, tzinfo=MOSCOW)
    cancel = event(
        "appointment.cancelled",
        {"appointment_id": "a", "cancelled_by": "patient"},
        received_at=now,
        sequence=5,
    )
    requested = event("appointment.requested", appointment("a", starts), received_at=now, sequence=1)
    confirm = event("appointment.confirmed", appointment("a", starts), received_at=now, sequence=4)
    assert fold([requested, cancel, confirm]).status is AppointmentStatus.CANCELLED


def test_booking_at_night_for_early_next_morning_is_urgent() -> None:
    night = datetime(2026, 12, 1, 23, 40, tzinfo=MOSCOW)
    early = datetime(2026, 12, 2, 9, 30, tzinfo=MOSCOW)
    later = datetime(2026, 12, 4, 9, 30, tzinfo=MOSCOW)
    settings = TenantSettings()
    urgent = fold([event("appointment.requested", appointment("a", early), received_at=night)])
    relaxed = fold([event("appointment.requested", appointment("b", later), received_at=night)])
    assert is_urgent_booking(urgent, settings)
    assert not is_urgent_booking(relaxed, settings)


def test_patient_without_a_timezone_gets_the_clinics() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    data = appointment("a", datetime(2026, 12, 5, 10, 0, tzinfo=MOSCOW))
    del data["patient"]["timezone"]
    view = fold([event("appointment.confirmed", data, received_at=now)])
    plan = plan_appointment(view, TenantSettings(), {})
    assert {m.recipient.timezone for m in plan.messages} == {"Europe/Moscow"}


def _appointment_histories() -> dict[str, list[DomainEvent]]:
    """Event lists that take an appointment through each state its planner distinguishes."""
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    starts = datetime(2026, 12, 5, 10, 0, tzinfo=MOSCOW)
    moved = datetime(2026, 12, 6, 15, 0, tzinfo=MOSCOW)

    def at(type: str, data: dict[str, object], sequence: int, hours: int = 0) -> DomainEvent:
        return event(type, data, received_at=now + timedelta(hours=hours), sequence=sequence)

    requested = at("appointment.requested", appointment("a", starts), 1)
    confirmed = at("appointment.confirmed", appointment("a", starts), 2)
    rescheduled = at(
        "appointment.rescheduled",
        {"appointment_id": "a", "starts_at": moved.isoformat(), "duration_minutes": 30},
        3,
        hours=2,
    )
    cancelled = at("appointment.cancelled", {"appointment_id": "a", "cancelled_by": "patient"}, 4, hours=3)
    completed = at("appointment.completed", {"appointment_id": "a"}, 4, hours=100)
    return {
        "pending": [requested],
        "confirmed": [requested, confirmed],
        "rescheduled": [requested, confirmed, rescheduled],
        "cancelled": [requested, confirmed, cancelled],
        "completed": [requested, confirmed, completed],
    }


def test_a_plan_names_the_done_steps_it_read_and_no_other_step_can_change_it() -> None:
    """The lifecycle skips planning again after a send the plan did not read: that must be safe.

    For each state, with nothing done and with each planned step done in turn, sending any step the
    plan did not read leaves the plan exactly as it was.
    """
    settings = TenantSettings(timezone="Europe/Moscow")
    sent_at = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
    checked = 0
    for name, events in _appointment_histories().items():
        view = fold(events)
        all_steps = {m.step for m in plan_appointment(view, settings, {}).messages}
        for before in [set(), *({step} for step in all_steps)]:
            done = {step: StepRecord(at=sent_at, status="sent") for step in before}
            reads = DoneReads(done)
            plan = plan_appointment(view, settings, reads)
            read = reads.read()
            assert read is not None, name
            for message in plan.messages:
                if message.step in read or message.step in done:
                    continue
                after = {**done, message.step: StepRecord(at=sent_at, status="sent")}
                assert plan_appointment(view, settings, after) == plan, (name, before, message.step)
                checked += 1
    assert checked >= 10


def test_a_confirmation_never_moved_does_not_depend_on_its_own_send_but_a_moved_one_does() -> None:
    settings = TenantSettings(timezone="Europe/Moscow")
    histories = _appointment_histories()
    sent = {"confirmed": StepRecord(at=datetime(2026, 12, 1, 12, 0, 1, tzinfo=UTC), status="sent")}
    reads = DoneReads(sent)
    plan_appointment(fold(histories["confirmed"]), settings, reads)
    read = reads.read()
    assert read is not None and "confirmed" not in read
    reads = DoneReads(sent)
    plan = plan_appointment(fold(histories["rescheduled"]), settings, reads)
    read = reads.read()
    assert read is not None and "confirmed" in read
    assert "rescheduled-v1" in [m.step for m in plan.messages]


def test_walking_over_every_done_step_counts_as_reading_them_all() -> None:
    reads = DoneReads({"a": StepRecord(at=datetime(2026, 12, 1, tzinfo=UTC), status="sent")})
    assert reads.get("b") is None and "a" in reads
    assert reads.read() == ["a", "b"]
    assert list(reads) == ["a"]
    assert reads.read() is None


def test_the_planning_fingerprint_changes_with_any_planning_module_or_the_zone_rules(tmp_path: Path) -> None:
    """What decides whether a running lifecycle plans again after a reminder (activities/release.py)."""
    for source in release.planning_sources(release.ROOT):
        copy = tmp_path / source.relative_to(release.ROOT)
        copy.parent.mkdir(exist_ok=True)
        shutil.copy(source, copy)
    rules = release.zone_rule_versions()
    assert rules, "no zone database found: the fingerprint would miss a tz update"
    shipped = release.fingerprint(tmp_path, rules)
    assert shipped == release.current()

    for changed in ("domain/quiet_hours.py", "activities/planning.py"):
        (tmp_path / changed).write_text((tmp_path / changed).read_text() + "\n# a release\n")
        assert release.fingerprint(tmp_path, rules) != shipped
        shutil.copy(release.ROOT / changed, tmp_path / changed)
        assert release.fingerprint(tmp_path, rules) == shipped
    assert release.fingerprint(tmp_path, [*rules[:-1], "tzdata 2099.1"]) != shipped
