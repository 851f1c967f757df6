"""Erasing a contact (store/erasure.py), on SQLite and PostgreSQL: its personal data leaves the store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from domain.consent import ConsentCategory, ConsentChange, ConsentSource
from domain.contacts import Channel, Contact
from domain.deliveries import Attachment, DeliveryDraft, DeliveryOutcome, DeliveryStatus
from store import InboundEventKey, Store
from store.consent import InboundReply, Ledger
from store.erasure import ERASED, Erasure, carries
from store.tables import DeliveryAttemptRow, DeliveryEventRow, InboundEventRow

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
PHONE = "+447700900001"
ANNA = Contact(id="p-1", name="Anna Petrova", phone=PHONE, email="anna@example.org")


def confirmed(event_id: str, patient: Contact) -> InboundEventKey:
    payload = {"id": event_id, "type": "appointment.confirmed", "data": {"patient": patient.model_dump()}}
    return InboundEventKey(
        source="/crm",
        event_id=event_id,
        type="appointment.confirmed",
        workflow_id=f"appointment:t:{event_id}",
        payload=payload,
    )


async def sent(store: Store, tenant: str, contact_id: str, key: str, *, failed: bool = False) -> int:
    draft = DeliveryDraft(
        tenant=tenant,
        idempotency_key=f"{tenant}/{contact_id}/{key}",
        subject="a-1",
        workflow_id=f"appointment:{tenant}:a-1",
        step=key,
        contact_id=contact_id,
        template="appointment_confirmed",
        scheduled_for=T0,
    )
    row, _ = await store.begin_delivery(draft)
    outcome = DeliveryOutcome(
        status=DeliveryStatus.FAILED if failed else DeliveryStatus.SENT,
        channel="sms",
        provider="twilio",
        body="Anna, your visit to Dr. Ivanova is on 14 March at 12:00",
        attachments=[
            Attachment(filename="visit.ics", content_type="text/calendar", content="BEGIN:VCALENDAR")
        ],
        reason=f"The 'To' number {PHONE} is not a valid phone number" if failed else None,
        provider_message_id=f"SM-{tenant}-{contact_id}-{key}",
        sent_at=T0,
    )
    await store.finish_delivery(row.id, outcome)
    return row.id


async def given_a_contact_known_everywhere(store: Store, tenant: str) -> None:
    await store.ensure_tenant(tenant, tenant, f"key-{tenant}")
    await store.upsert_contacts(tenant, [ANNA, Contact(id="p-2", name="Boris", phone="+447700900002")])
    await store.link_telegram(tenant, "p-1", "987654321")
    await store.mark_dead_address(tenant, "p-1", f"sms:{PHONE}")
    await sent(store, tenant, "p-1", "confirmation")
    await sent(store, tenant, "p-1", "reminder", failed=True)
    await sent(store, tenant, "p-2", "confirmation")
    await store.record_status(
        "twilio", f"SM-{tenant}-p-1-confirmation", DeliveryStatus.FAILED, detail=f"{PHONE} blocked"
    )
    ledger = Ledger(store.engine)
    stop = ConsentChange(
        contact_id="p-1",
        category=ConsentCategory.REMINDERS,
        status="revoked",
        channel=Channel.SMS,
        contact_point=PHONE,
        source=ConsentSource.KEYWORD,
        evidence={"message_id": "SM9", "text": "stop please"},
        actor=f"sms:{PHONE}",
    )
    await ledger.append(
        tenant, [stop, stop.model_copy(update={"category": ConsentCategory.MARKETING, "status": "granted"})]
    )
    reply = InboundReply(
        tenant=tenant,
        contact_id="p-1",
        channel="sms",
        provider="twilio",
        message_id=f"SM-in-{tenant}",
        sender=PHONE,
        text="I'll be late, Anna",
        intent="unknown",
    )
    await ledger.claim_reply(reply)
    await store.claim_events(
        tenant,
        [confirmed("e-routed", ANNA), confirmed("e-waiting", ANNA), confirmed("e-boris", Contact(id="p-2"))],
    )
    await store.mark_events(tenant, [("/crm", "e-routed"), ("/crm", "e-boris")], "routed")


async def events(store: Store, tenant: str) -> dict[str, tuple[str, dict[str, Any] | None]]:
    async with store.engine.connect() as connection:
        rows = await connection.execute(
            select(InboundEventRow.event_id, InboundEventRow.status, InboundEventRow.payload).where(
                InboundEventRow.tenant == tenant
            )
        )
        return {event_id: (status, payload) for event_id, status, payload in rows}


async def free_text(store: Store, tenant: str) -> str:
    """Every reason and callback detail of the tenant's deliveries, joined."""
    async with store.engine.connect() as connection:
        attempts = await connection.execute(select(DeliveryAttemptRow.reason))
        details = await connection.execute(select(DeliveryEventRow.detail))
        texts = [*attempts.scalars(), *details.scalars()]
    texts += [d.reason for d in await store.list_deliveries(tenant)]
    return " | ".join(text for text in texts if text)


async def test_erasing_a_contact_leaves_no_personal_data_in_its_tenant(store: Store) -> None:
    await given_a_contact_known_everywhere(store, "t1")

    erased = await Erasure(store.engine).erase("t1", "p-1")

    assert erased.found and erased.deliveries == 2 and erased.replies == 1 and erased.consents == 2
    assert erased.events == 2
    assert await store.get_contact("t1", "p-1") is None
    learned = await store.contact_for_sending("t1", Contact(id="p-1"))
    assert (learned.telegram_chat_id, learned.dead_addresses) == (None, [])
    assert learned.consent_revoked == ["sms:reminders"]  # a STOP still holds, now on the whole channel
    mine = await store.list_deliveries("t1", contact_id="p-1")
    assert [(d.body, [a.content for a in d.attachments]) for d in mine] == [(ERASED, [ERASED])] * 2
    assert [d.status for d in mine] == [DeliveryStatus.FAILED, DeliveryStatus.FAILED]  # the log still counts
    assert PHONE not in await free_text(store, "t1")
    ledger = Ledger(store.engine)
    records = await ledger.consents("t1", "p-1")
    assert [(r.status, r.evidence, r.contact_point, r.actor) for r in records] == [
        ("revoked", {}, None, f"sms:{ERASED}"),
        ("granted", {}, ERASED, f"sms:{ERASED}"),
    ]
    (reply,) = await ledger.replies("t1")
    assert (reply.sender, reply.text) == (ERASED, ERASED)
    found = await events(store, "t1")
    assert found["e-routed"] == ("routed", None)
    assert found["e-waiting"] == ("ignored", None)  # never delivered now: nothing left to deliver


async def test_erasure_leaves_other_contacts_and_other_tenants_alone(store: Store) -> None:
    for tenant in ("t1", "t2"):
        await given_a_contact_known_everywhere(store, tenant)

    await Erasure(store.engine).erase("t1", "p-1")

    assert await store.get_contact("t2", "p-1") == ANNA
    assert await store.get_contact("t1", "p-2") is not None
    assert {d.body for d in await store.list_deliveries("t2")} == {
        "Anna, your visit to Dr. Ivanova is on 14 March at 12:00"
    }
    (boris,) = await store.list_deliveries("t1", contact_id="p-2")
    assert boris.body != ERASED and boris.attachments[0].content == "BEGIN:VCALENDAR"
    assert (await store.contact_for_sending("t2", Contact(id="p-1"))).dead_addresses == [f"sms:{PHONE}"]
    assert [r.evidence for r in await Ledger(store.engine).consents("t2", "p-1")] == [
        {"message_id": "SM9", "text": "stop please"}
    ] * 2
    assert (await events(store, "t1"))["e-boris"][1] is not None
    assert all(payload is not None for _, payload in (await events(store, "t2")).values())


async def test_an_unknown_contact_is_not_found_and_erasing_twice_finds_nothing_left(store: Store) -> None:
    await given_a_contact_known_everywhere(store, "t1")
    erasure = Erasure(store.engine)

    assert not (await erasure.erase("t1", "nobody")).found
    assert (await erasure.erase("t1", "p-1")).found
    again = await erasure.erase("t1", "p-1")

    assert not again.found and again.deliveries == 0 and again.events == 0


def test_an_event_carries_its_patient_student_guardian_payer_or_consent_contact() -> None:
    for name in ("patient", "student", "guardian", "contact"):
        assert carries({"data": {name: {"id": "p-1"}}}, "p-1")
    assert carries({"data": {"contact_id": "p-1"}}, "p-1")
    assert not carries({"data": {"patient": {"id": "p-10"}, "doctor": {"id": "p-1"}}}, "p-1")
    assert not carries(None, "p-1") and not carries({"data": "p-1"}, "p-1")
