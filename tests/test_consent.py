"""The consent ledger's rules: the latest record that applies decides, per channel, category and address."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from domain.consent import ConsentCategory, ConsentRecord, ConsentSource, allowed, with_consent
from domain.contacts import Channel, Contact
from domain.routing import channel_order
from domain.settings import DEFAULT_CHANNEL_COSTS

ANNA = Contact(id="p-1", phone="+447700900123", email="anna@example.org", telegram_chat_id="77")
_ids = iter(range(1, 1000))


def record(
    status: Literal["granted", "revoked"],
    channel: Channel | None = Channel.SMS,
    category: ConsentCategory = ConsentCategory.REMINDERS,
    point: str | None = "+447700900123",
) -> ConsentRecord:
    return ConsentRecord(
        id=next(_ids),
        tenant="t",
        at=datetime(2030, 1, 1, tzinfo=UTC),
        contact_id="p-1",
        category=category,
        status=status,
        channel=channel,
        contact_point=point,
        source=ConsentSource.KEYWORD,
    )


def test_no_record_means_allowed_and_the_latest_record_decides() -> None:
    assert allowed([], ANNA, Channel.SMS, ConsentCategory.REMINDERS)
    stop, start = record("revoked"), record("granted")
    assert not allowed([stop], ANNA, Channel.SMS, ConsentCategory.REMINDERS)
    assert allowed([stop, start], ANNA, Channel.SMS, ConsentCategory.REMINDERS)
    assert not allowed([start, record("revoked")], ANNA, Channel.SMS, ConsentCategory.REMINDERS)


def test_a_revocation_applies_to_its_channel_category_and_address_only() -> None:
    stop = [record("revoked")]
    assert allowed(stop, ANNA, Channel.EMAIL, ConsentCategory.REMINDERS)
    assert allowed(stop, ANNA, Channel.SMS, ConsentCategory.BILLING)
    # A STOP from the patient's old number does not silence the new one.
    assert allowed(
        stop, ANNA.model_copy(update={"phone": "+447700900999"}), Channel.SMS, ConsentCategory.REMINDERS
    )
    # A revocation for every channel covers each of them until one is granted back.
    everywhere = [record("revoked", channel=None, point=None)]
    assert not allowed(everywhere, ANNA, Channel.TELEGRAM, ConsentCategory.REMINDERS)
    assert allowed([*everywhere, record("granted", Channel.TELEGRAM, point="77")], ANNA, Channel.TELEGRAM,
                   ConsentCategory.REMINDERS)  # fmt: skip


def test_the_router_keeps_revoked_channels_off_and_skips_a_category_revoked_everywhere() -> None:
    costs = dict(DEFAULT_CHANNEL_COSTS)
    sms_stopped = with_consent([record("revoked", category=c) for c in ConsentCategory], ANNA)
    assert Channel.SMS not in channel_order(sms_stopped, costs, "visit_reminder")
    assert channel_order(sms_stopped, costs, "visit_reminder")[0] == Channel.TELEGRAM
    assert Channel.SMS not in channel_order(sms_stopped, costs, "appointment_confirmed")
    only_reminders = with_consent([record("revoked")], ANNA)
    assert Channel.SMS in channel_order(only_reminders, costs, "payment_nudge")
    gone = with_consent([record("revoked", channel=None, point=None)], ANNA)
    assert "reminders" in gone.opted_out and channel_order(gone, costs, "visit_reminder") == []
