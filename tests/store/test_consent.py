"""The consent ledger and the replies store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.consent import ConsentCategory, ConsentChange, ConsentSource
from domain.contacts import Channel, Contact
from domain.deliveries import DeliveryDraft, DeliveryOutcome, DeliveryStatus
from store import Store
from store.consent import InboundReply, Ledger

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)


async def sent(store: Store, tenant: str, contact_id: str, template: str, channel: str, at: datetime) -> int:
    draft = DeliveryDraft(
        tenant=tenant,
        idempotency_key=f"{tenant}/{contact_id}/{template}/{at.isoformat()}",
        subject="appointment:a-1",
        workflow_id=f"appointment:{tenant}:a-1",
        step=template,
        contact_id=contact_id,
        template=template,
        scheduled_for=at,
    )
    row, _ = await store.begin_delivery(draft)
    await store.finish_delivery(
        row.id, DeliveryOutcome(status=DeliveryStatus.SENT, channel=channel, provider="twilio", sent_at=at)
    )
    return row.id


async def test_the_ledger_appends_and_reads_back_in_order(store: Store) -> None:
    ledger = Ledger(store.engine)
    change = ConsentChange(
        contact_id="p-1",
        category=ConsentCategory.REMINDERS,
        status="revoked",
        channel=Channel.SMS,
        contact_point="+447700900001",
        source=ConsentSource.KEYWORD,
        evidence={"message_id": "SM1", "text": "stop please"},
        actor="sms:+447700900001",
    )
    await ledger.append("t1", [change])
    await ledger.append("t1", [change.model_copy(update={"status": "granted"})])
    await ledger.append("t2", [change])
    records = await ledger.consents("t1", "p-1")
    assert [r.status for r in records] == ["revoked", "granted"]
    assert (
        records[0].evidence == {"message_id": "SM1", "text": "stop please"}
        and records[0].channel is Channel.SMS
    )


async def test_a_reply_finds_the_newest_question_sent_to_the_number_in_its_tenant(store: Store) -> None:
    for tenant in ("t1", "t2"):
        await store.ensure_tenant(tenant, tenant, f"key-{tenant}")
    await store.upsert_contact("t1", Contact(id="p-1", phone="+447700900001"))
    await store.upsert_contact("t2", Contact(id="p-9", phone="+447700900001"))
    await store.upsert_contact("t1", Contact(id="p-2", phone="+447700900002"))
    await sent(store, "t1", "p-1", "visit_reminder", "sms", T0)
    newest = await sent(store, "t2", "p-9", "visit_reminder", "sms", T0 + timedelta(hours=1))
    await sent(store, "t1", "p-1", "appointment_confirmed", "sms", T0 + timedelta(hours=2))
    await sent(store, "t1", "p-2", "visit_reminder", "sms", T0 + timedelta(hours=3))
    await sent(store, "t1", "p-1", "visit_reminder", "email", T0 + timedelta(hours=4))
    ledger = Ledger(store.engine)

    everywhere = await ledger.contacts_with_phone("+447700900001")
    assert sorted((t, c.id) for t, c in everywhere) == [("t1", "p-1"), ("t2", "p-9")]
    keys = [(t, c.id) for t, c in everywhere]
    found = await ledger.last_answerable(keys, "sms", ["visit_reminder"])
    assert found is not None and found.id == newest
    only_t1 = [(t, c.id) for t, c in await ledger.contacts_with_phone("+447700900001", "t1")]
    found = await ledger.last_answerable(only_t1, "sms", ["visit_reminder"])
    assert found is not None and (found.tenant, found.template) == ("t1", "visit_reminder")
    latest = await ledger.last_answerable(only_t1, "sms", None)
    assert latest is not None and latest.template == "appointment_confirmed"
    assert await ledger.last_answerable([], "sms", None) is None


async def test_a_reply_is_acted_on_once_unless_it_was_never_settled(store: Store) -> None:
    ledger = Ledger(store.engine)
    reply = InboundReply(
        tenant="t1",
        channel="sms",
        provider="twilio",
        message_id="SM1",
        sender="+1",
        text="2",
        intent="decline",
    )
    first = await ledger.claim_reply(reply)
    assert first is not None and first.id is not None
    # Crashed before settling: the redelivery gets it again; once settled, never again.
    again = await ledger.claim_reply(reply)
    assert again is not None and again.id == first.id
    await ledger.settle_reply(first.id, "decline", "attendance.declined")
    assert await ledger.claim_reply(reply) is None
    [listed] = await ledger.replies("t1")
    assert (listed.intent, listed.outcome) == ("decline", "attendance.declined")
    assert await ledger.replies("t1", intent="unknown") == []


async def test_a_chat_finds_its_contacts_linked_by_start_or_sent_by_the_backend(store: Store) -> None:
    for tenant in ("t1", "t2"):
        await store.ensure_tenant(tenant, tenant, f"key-{tenant}")
    await store.upsert_contact("t1", Contact(id="p-1", name="Anna", telegram_chat_id="501"))
    await store.upsert_contact("t2", Contact(id="p-2", name="Anna"))
    await store.link_telegram("t2", "p-2", "501")
    await store.upsert_contact("t1", Contact(id="p-3", telegram_chat_id="502"))
    found = await Ledger(store.engine).contacts_with_chat("501")
    assert [(t, c.id, c.telegram_chat_id) for t, c in found] == [("t1", "p-1", "501"), ("t2", "p-2", "501")]
    assert await Ledger(store.engine).contacts_with_chat("999") == []
