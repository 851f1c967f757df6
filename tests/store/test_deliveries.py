"""The delivery log: idempotent begin, every attempt recorded, filtered newest-first listing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from domain.contacts import Contact
from domain.deliveries import Attachment, Delivery, DeliveryDraft, DeliveryOutcome, DeliveryStatus
from store import Store, UnknownDelivery
from store.tables import DeliveryRow
from tests.store.counting import count_statements

LESSON_AT = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def draft(key: str = "appt-1:reminder-24h", **overrides: object) -> DeliveryDraft:
    fields: dict[str, object] = {
        "tenant": "clinic",
        "idempotency_key": key,
        "subject": "appt-1",
        "workflow_id": "appointment-appt-1",
        "step": "reminder-24h",
        "contact_id": "patient-1",
        "template": "reminder",
        "scheduled_for": LESSON_AT,
    }
    return DeliveryDraft.model_validate(fields | overrides)


async def count_rows(store: Store) -> int:
    async with store.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(DeliveryRow)) or 0)


async def test_beginning_a_delivery_twice_returns_the_first_row_without_creating_another(
    store: Store,
) -> None:
    first, first_created = await store.begin_delivery(draft())
    again, again_created = await store.begin_delivery(draft(step="changed"))

    assert (first_created, again_created) == (True, False)
    assert again == first
    assert first.status is DeliveryStatus.PLANNED
    assert await count_rows(store) == 1


async def test_twenty_concurrent_begins_with_one_key_make_exactly_one_row(store: Store) -> None:
    results = await asyncio.gather(*(store.begin_delivery(draft()) for _ in range(20)))

    assert sum(created for _, created in results) == 1
    assert len({delivery.id for delivery, _ in results}) == 1
    assert await count_rows(store) == 1


async def test_api_and_worker_racing_on_one_database_make_one_row(backend: str, store: Store) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    worker = Store(url)
    try:
        results = await asyncio.gather(
            *(owner.begin_delivery(draft()) for owner in [store, worker] * 10),
        )
    finally:
        await worker.close()

    assert sum(created for _, created in results) == 1
    assert await count_rows(store) == 1


async def test_a_row_begun_at_its_claim_is_sending_and_says_whom_it_calls(store: Store) -> None:
    claim = DeliveryOutcome(
        status=DeliveryStatus.SENDING, channel="sms", provider="twilio", body="Завтра в 14:00"
    )
    row, written = await store.begin_delivery(draft(), claim)

    assert written and row == await store.get_delivery(row.id)
    assert (row.status, row.channel, row.provider, row.body) == ("sending", "sms", "twilio", "Завтра в 14:00")
    # A claim is not an attempt: the attempt is logged with its outcome.
    assert await store.list_attempts(row.id) == []
    # A second attempt finds it claimed and writes nothing (it asks the provider instead).
    again, written_again = await store.begin_delivery(draft(), claim)
    assert (again, written_again) == (row, False)
    assert await count_rows(store) == 1


async def test_a_claim_holds_until_its_attempt_ends_and_finds_others_sending_the_same_text(
    store: Store,
) -> None:
    until = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    text = DeliveryOutcome(
        status=DeliveryStatus.SENDING,
        channel="sms",
        provider="twilio",
        body="Завтра в 14:00",
        sending_until=until,
    )
    await store.upsert_contact("clinic", Contact(id="patient-1", name="Анна", phone="+12025550100"))
    mine, _ = await store.begin_delivery(draft("a:1"), text)
    sibling, _ = await store.begin_delivery(draft("a:2", contact_id="patient-2"), text)
    await store.begin_delivery(draft("a:3"), text.model_copy(update={"body": "Завтра в 15:00"}))
    await store.begin_delivery(draft("a:4"), text.model_copy(update={"provider": "smsaero"}))
    await store.begin_delivery(draft("a:5", tenant="other"), text)
    planned, _ = await store.begin_delivery(draft("a:6"))
    await store.claim_sending(planned.id, DeliveryStatus.PLANNED, "sms", "twilio", "Завтра в 14:00", until)
    assert mine.sending_until == until

    sending, claimed = await store.sending_alike(mine)
    alike = {row.idempotency_key: contact for row, contact in sending}

    # The same text through the same provider for this tenant, each with its contact if stored
    assert sorted(alike) == ["a:2", "a:6"] and claimed == set()
    assert alike["a:2"] is None
    assert alike["a:6"] is not None and alike["a:6"].phone == "+12025550100"
    # An outcome ends the claim; a row no longer sending is not among them
    sent = DeliveryOutcome(status=DeliveryStatus.SENT, provider="twilio", provider_message_id="SM1")
    finished = await store.finish_delivery(sibling.id, sent)
    assert finished.sending_until is None
    # and it is seen recording its message, in the same statement
    sending, claimed = await store.sending_alike(mine, ["SM1", "SM2"])
    assert [row.idempotency_key for row, _ in sending] == ["a:6"]
    assert claimed == {"SM1"}


async def test_a_row_begun_at_its_outcome_logs_it_as_the_first_attempt(store: Store) -> None:
    skipped = DeliveryOutcome(status=DeliveryStatus.SKIPPED, reason="recipient opted out of this category")
    row, written = await store.begin_delivery(draft(), skipped)

    assert written and (row.status, row.reason) == ("skipped", "recipient opted out of this category")
    attempts = await store.list_attempts(row.id)
    assert [(a.attempt, a.status, a.reason) for a in attempts] == [
        (1, DeliveryStatus.SKIPPED, skipped.reason)
    ]
    # Two attempts racing to write one message at an outcome: one row, one logged attempt.
    results = await asyncio.gather(*(store.begin_delivery(draft("appt-1:2h"), skipped) for _ in range(10)))
    assert sum(written for _, written in results) == 1
    assert len(await store.list_attempts(results[0][0].id)) == 1
    assert await count_rows(store) == 2


async def test_finishing_a_delivery_writes_the_outcome_and_records_each_attempt(store: Store) -> None:
    delivery, _ = await store.begin_delivery(draft())
    sent_at = datetime.now(UTC)

    await store.finish_delivery(
        delivery.id, DeliveryOutcome(status=DeliveryStatus.FAILED, channel="sms", reason="timeout")
    )
    finished = await store.finish_delivery(
        delivery.id,
        DeliveryOutcome(
            status=DeliveryStatus.SENT,
            channel="email",
            provider="smtp",
            locale="ru",
            body="Напоминание о приёме",
            attachments=[Attachment(filename="a.ics", content_type="text/calendar", content="BEGIN")],
            provider_message_id="m-1",
            cost=0.001,
            sent_at=sent_at,
        ),
    )

    assert finished == await store.get_delivery(delivery.id)
    assert (finished.status, finished.channel, finished.body) == ("sent", "email", "Напоминание о приёме")
    assert finished.attachments[0].filename == "a.ics"
    assert finished.sent_at == sent_at
    assert finished.updated_at >= delivery.updated_at
    attempts = await store.list_attempts(delivery.id)
    assert [(a.attempt, a.status, a.channel, a.reason) for a in attempts] == [
        (1, DeliveryStatus.FAILED, "sms", "timeout"),
        (2, DeliveryStatus.SENT, "email", None),
    ]
    assert attempts[1].cost == 0.001


async def test_concurrent_outcomes_for_one_delivery_get_distinct_attempt_numbers(store: Store) -> None:
    delivery, _ = await store.begin_delivery(draft())
    outcome = DeliveryOutcome(status=DeliveryStatus.FAILED, channel="sms")

    await asyncio.gather(*(store.finish_delivery(delivery.id, outcome) for _ in range(8)))

    assert [attempt.attempt for attempt in await store.list_attempts(delivery.id)] == list(range(1, 9))


async def test_finishing_an_unknown_delivery_raises(store: Store) -> None:
    with pytest.raises(UnknownDelivery):
        await store.finish_delivery(404, DeliveryOutcome(status=DeliveryStatus.SENT))


async def test_get_delivery_of_an_unknown_id_is_none(store: Store) -> None:
    assert await store.get_delivery(404) is None


def keys(deliveries: list[Delivery]) -> list[str]:
    return [delivery.idempotency_key for delivery in deliveries]


async def test_list_deliveries_is_newest_first_filtered_and_limited(store: Store) -> None:
    for n in range(5):
        await store.begin_delivery(draft(f"k{n}", subject=f"appt-{n % 2}", contact_id=f"patient-{n % 3}"))
    await store.begin_delivery(draft("other-tenant", tenant="school"))
    delivered, _ = await store.begin_delivery(draft("k5", subject="appt-5", workflow_id="appointment-appt-5"))
    await store.finish_delivery(delivered.id, DeliveryOutcome(status=DeliveryStatus.DELIVERED))

    assert keys(await store.list_deliveries("clinic")) == ["k5", "k4", "k3", "k2", "k1", "k0"]
    assert keys(await store.list_deliveries("clinic", limit=2)) == ["k5", "k4"]
    assert keys(await store.list_deliveries("clinic", subject="appt-1")) == ["k3", "k1"]
    assert keys(await store.list_deliveries("clinic", contact_id="patient-0")) == ["k3", "k0"]
    assert keys(await store.list_deliveries("clinic", status="delivered")) == ["k5"]
    assert keys(await store.list_deliveries("clinic", workflow_id="appointment-appt-5")) == ["k5"]
    assert keys(await store.list_deliveries("school")) == ["other-tenant"]


async def test_timestamps_come_back_as_the_same_instant_in_utc(store: Store) -> None:
    in_moscow = datetime(2025, 3, 10, 12, 0, tzinfo=ZoneInfo("Europe/Moscow"))

    delivery, _ = await store.begin_delivery(draft(scheduled_for=in_moscow))
    finished = await store.finish_delivery(
        delivery.id, DeliveryOutcome(status=DeliveryStatus.SENT, sent_at=in_moscow + timedelta(minutes=1))
    )
    stored = await store.get_delivery(delivery.id)
    attempt = (await store.list_attempts(delivery.id))[0]

    assert stored is not None
    assert stored.scheduled_for == in_moscow
    for moment in (stored.scheduled_for, stored.sent_at, stored.created_at, stored.updated_at, attempt.at):
        assert moment is not None
        assert moment.utcoffset() == timedelta(0)
    assert stored.sent_at == finished.sent_at


async def test_a_naive_time_is_refused_rather_than_guessed(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        await store.begin_delivery(draft(scheduled_for=datetime(2025, 3, 10, 9, 0)))


async def test_deliveries_survive_closing_and_reopening_the_store(store: Store) -> None:
    delivery, _ = await store.begin_delivery(draft())
    reopened = Store(store.engine.url.render_as_string(hide_password=False))
    try:
        assert await reopened.get_delivery(delivery.id) == delivery
    finally:
        await reopened.close()


async def test_concurrent_sends_claims_and_outcomes_are_a_statement_each_per_batch(store: Store) -> None:
    # Twenty sends at once, two of them racing on one message, each claiming its row as it begins it
    claim = DeliveryOutcome(status=DeliveryStatus.SENDING, channel="sms", provider="twilio", body="Hi")
    inserts, updates = count_statements(store, "INSERT INTO deliveries "), count_statements(store, "UPDATE")
    keys = [f"appt-{i}:reminder" for i in range(19)] + ["appt-0:reminder"]

    begun = await asyncio.gather(*(store.begin_delivery(draft(key), claim) for key in keys))

    assert [written for _, written in begun] == [True] * 19 + [False]
    assert begun[19][0] == begun[0][0]
    assert await count_rows(store) == 19
    assert inserts[0] < 19 / 4

    # When they all finish at once
    sent = DeliveryOutcome(status=DeliveryStatus.SENT, channel="sms", provider="twilio", body="Hi")
    ids = [row.id for row, _ in begun[:19]]
    finished = await asyncio.gather(
        *(store.finish_delivery(i, sent.model_copy(update={"provider_message_id": f"m-{i}"})) for i in ids)
    )

    # Then each gets its own row back, written and logged once
    assert [(f.id, f.status, f.provider_message_id) for f in finished] == [
        (row_id, DeliveryStatus.SENT, f"m-{row_id}") for row_id in ids
    ]
    for row_id in ids:
        assert [(a.attempt, a.status) for a in await store.list_attempts(row_id)] == [
            (1, DeliveryStatus.SENT)
        ]
    assert updates[0] < 19 / 4


async def test_of_sends_finishing_at_once_only_the_one_whose_row_is_not_there_fails(store: Store) -> None:
    first, _ = await store.begin_delivery(draft("appt-1:reminder"))
    second, _ = await store.begin_delivery(draft("appt-2:reminder"))
    sent = DeliveryOutcome(status=DeliveryStatus.SENT, channel="sms", provider="twilio")

    outcomes = await asyncio.gather(
        store.finish_delivery(first.id, sent),
        store.finish_delivery(404, sent),
        store.finish_delivery(second.id, sent),
        return_exceptions=True,
    )

    assert isinstance(outcomes[1], UnknownDelivery)
    assert [(o.id, o.status) for o in (outcomes[0], outcomes[2]) if isinstance(o, Delivery)] == [
        (first.id, DeliveryStatus.SENT),
        (second.id, DeliveryStatus.SENT),
    ]
    assert len(await store.list_attempts(first.id)) == len(await store.list_attempts(second.id)) == 1


async def test_concurrent_sends_written_at_their_outcome_each_log_one_attempt(store: Store) -> None:
    skipped = DeliveryOutcome(status=DeliveryStatus.SKIPPED, reason="recipient opted out of this category")

    begun = await asyncio.gather(
        *(store.begin_delivery(draft(f"appt-{i % 10}:2h"), skipped) for i in range(20))
    )

    assert sum(written for _, written in begun) == 10
    for row, _ in begun[:10]:
        assert [(a.attempt, a.status) for a in await store.list_attempts(row.id)] == [
            (1, DeliveryStatus.SKIPPED)
        ]
