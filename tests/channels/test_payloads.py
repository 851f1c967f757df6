"""What each provider actually receives: buttons as opaque tokens, window-aware WhatsApp, .ics mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from channels import replies
from channels.base import ChannelAdapter
from domain.contacts import Channel
from domain.deliveries import Attachment
from tests.channels.conftest import Fakes
from tests.channels.test_adapters import message, recipient


async def test_telegram_buttons_carry_an_opaque_signed_token(
    fakes: Fakes, adapters: dict[Channel, ChannelAdapter]
) -> None:
    contact, chat_id, _ = recipient(fakes, Channel.TELEGRAM)
    await adapters[Channel.TELEGRAM].send(message(Channel.TELEGRAM, contact, buttons=["Приду", "Не смогу"]))
    [request] = [r for r in fakes.telegram.requests if r.get("chat_id") == chat_id]
    [row] = request["payload"]["reply_markup"]["inline_keyboard"]
    data = [button["callback_data"] for button in row]
    assert all(len(d.encode()) <= 64 and contact.id not in d for d in data)
    now = datetime.now(UTC)
    assert [replies.pressed(d, "test-reply-secret", now) for d in data] == [(42, 0), (42, 1)]
    assert replies.pressed(data[0], "another-secret", now) is None


async def test_whatsapp_sends_free_text_inside_the_window_and_a_template_outside(
    fakes: Fakes, adapters: dict[Channel, ChannelAdapter]
) -> None:
    contact, phone, _ = recipient(fakes, Channel.WHATSAPP)
    outside = await adapters[Channel.WHATSAPP].send(message(Channel.WHATSAPP, contact))
    fakes.whatsapp.window.add(phone)
    inside = contact.model_copy(update={"whatsapp_window_until": datetime.now(UTC) + timedelta(hours=3)})
    in_window = await adapters[Channel.WHATSAPP].send(message(Channel.WHATSAPP, inside))
    sent = [r for r in fakes.whatsapp.requests if r["to"] == phone]
    assert [r["type"] for r in sent] == ["template", "text"]
    template = sent[0]["payload"]["template"]
    assert template["name"] == "visit_reminder" and template["language"] == {"code": "ru"}
    assert outside.cost > 0 and in_window.cost == 0


async def test_whatsapp_window_closed_by_meta_falls_back_to_the_template(
    fakes: Fakes, adapters: dict[Channel, ChannelAdapter]
) -> None:
    contact, phone, _ = recipient(fakes, Channel.WHATSAPP)
    stale = contact.model_copy(update={"whatsapp_window_until": datetime.now(UTC) + timedelta(hours=1)})
    await adapters[Channel.WHATSAPP].send(message(Channel.WHATSAPP, stale))
    assert [r["answer"] for r in fakes.whatsapp.requests if r["to"] == phone] == ["outside_window", "ok"]


async def test_web_push_is_encrypted_for_the_browser_with_a_ttl(
    fakes: Fakes, adapters: dict[Channel, ChannelAdapter]
) -> None:
    contact, name, _ = recipient(fakes, Channel.WEBPUSH)
    expires = datetime.now(UTC) + timedelta(hours=2)
    await adapters[Channel.WEBPUSH].send(message(Channel.WEBPUSH, contact, expires_at=expires))
    [request] = [r for r in fakes.webpush.requests if r["name"] == name]
    assert request["payload"]["body"].startswith("Завтра в 14:00")
    assert 7000 < int(request["ttl"]) <= 7200


async def test_email_has_text_html_and_the_calendar_invite(
    fakes: Fakes, adapters: dict[Channel, ChannelAdapter]
) -> None:
    contact, address, _ = recipient(fakes, Channel.EMAIL)
    invite = Attachment(
        filename="appointment.ics",
        content_type="text/calendar; method=REQUEST",
        content="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
    )
    await adapters[Channel.EMAIL].send(
        message(Channel.EMAIL, contact, html="<p>Завтра</p>", attachments=[invite])
    )
    [mail] = [m for m in fakes.smtp.messages if m["To"] == address]
    types = [part.get_content_type() for part in mail.walk()]
    assert {"text/plain", "text/html", "text/calendar"} <= set(types)
    calendar = next(part for part in mail.walk() if part.get_content_type() == "text/calendar")
    assert calendar.get_param("method") == "REQUEST" and calendar.get_filename() == "appointment.ics"


async def test_fcm_authorises_with_a_service_account_grant(
    fakes: Fakes, adapters: dict[Channel, ChannelAdapter]
) -> None:
    contact, token, _ = recipient(fakes, Channel.PUSH)
    await adapters[Channel.PUSH].send(message(Channel.PUSH, contact))
    assert fakes.fcm.grants and fakes.fcm.grants[-1]["grant_type"].endswith("jwt-bearer")
    [request] = [r for r in fakes.fcm.requests if r["token"] == token]
    assert request["payload"]["message"]["data"] == {"delivery_id": "42"}
