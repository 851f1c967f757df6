"""What the fake WhatsApp receives for answers, and what it refuses, as Meta documents it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from channels import replies
from channels.base import ChannelAdapter, RecipientUnreachable
from channels.whatsapp import WhatsAppAdapter
from domain.contacts import Channel, Contact
from domain.whatsapp_templates import TemplateStatus
from tests.channels.conftest import Fakes
from tests.channels.test_adapters import message, recipient

SECRET = "test-reply-secret"


def in_window(fakes: Fakes, contact: Contact, phone: str) -> Contact:
    fakes.whatsapp.window.add(phone)
    return contact.model_copy(update={"whatsapp_window_until": datetime.now(UTC) + timedelta(hours=3)})


def sent(fakes: Fakes, phone: str) -> list[dict[str, Any]]:
    return [r for r in fakes.whatsapp.requests if r["to"] == phone]


async def test_reply_buttons_inside_the_window_carry_signed_tokens_and_short_titles(
    fakes: Fakes, adapters: dict[Channel, ChannelAdapter]
) -> None:
    contact, phone, _ = recipient(fakes, Channel.WHATSAPP)
    labels = ["Приду", "Не смогу прийти, перенесите"]
    await adapters[Channel.WHATSAPP].send(
        message(Channel.WHATSAPP, in_window(fakes, contact, phone), buttons=labels)
    )
    [request] = sent(fakes, phone)
    assert (request["type"], request["answer"]) == ("interactive", "ok")
    buttons = [b["reply"] for b in request["payload"]["interactive"]["action"]["buttons"]]
    assert [b["title"] for b in buttons] == ["Приду", "Не смогу прийти, пе…"]
    now = datetime.now(UTC)
    assert [replies.pressed(b["id"], SECRET, now) for b in buttons] == [(42, 0), (42, 1)]
    assert all(phone not in b["id"] and contact.id not in b["id"] for b in buttons)


async def test_five_ratings_inside_the_window_go_as_a_list_and_outside_as_quick_replies(
    fakes: Fakes, adapters: dict[Channel, ChannelAdapter]
) -> None:
    contact, phone, _ = recipient(fakes, Channel.WHATSAPP)
    ratings = ["1", "2", "3", "4", "5"]
    await adapters[Channel.WHATSAPP].send(message(Channel.WHATSAPP, contact, buttons=ratings))
    await adapters[Channel.WHATSAPP].send(
        message(Channel.WHATSAPP, in_window(fakes, contact, phone), buttons=ratings)
    )
    outside, inside = sent(fakes, phone)
    assert (outside["type"], outside["answer"], inside["type"], inside["answer"]) == (
        "template",
        "ok",
        "interactive",
        "ok",
    )
    quick = [c for c in outside["payload"]["template"]["components"] if c.get("sub_type") == "quick_reply"]
    assert len(quick) == 5
    [section] = inside["payload"]["interactive"]["action"]["sections"]
    assert [row["title"] for row in section["rows"]] == ratings
    assert replies.pressed(section["rows"][4]["id"], SECRET, datetime.now(UTC)) == (42, 4)


async def test_the_fake_refuses_what_meta_refuses(fakes: Fakes) -> None:
    _, phone, _ = recipient(fakes, Channel.WHATSAPP)

    def buttons(*titles: str) -> dict[str, Any]:
        action = {
            "buttons": [
                {"type": "reply", "reply": {"id": f"id{i}", "title": t}} for i, t in enumerate(titles)
            ]
        }
        return {"type": "button", "body": {"text": "?"}, "action": action}

    async with httpx.AsyncClient(base_url=fakes.whatsapp.url) as client:

        async def post(interactive: dict[str, Any]) -> int:
            body = {
                "messaging_product": "whatsapp",
                "to": phone,
                "type": "interactive",
                "interactive": interactive,
            }
            headers = {"Authorization": f"Bearer {fakes.whatsapp.token}"}
            answer = await client.post(
                f"/{fakes.whatsapp.phone_number_id}/messages", json=body, headers=headers
            )
            return int(answer.json()["error"]["code"]) if answer.status_code != 200 else 0

        assert await post(buttons("Yes")) == 131047  # outside the window: "Re-engagement message"
        fakes.whatsapp.window.add(phone)
        assert await post(buttons("Yes", "No")) == 0
        assert await post(buttons("1", "2", "3", "4")) == 131009
        assert await post(buttons("A title of twenty-one")) == 131009
        assert await post(buttons("Same", "Same")) == 131009


async def test_a_template_language_not_allowed_is_never_sent(
    fakes: Fakes, adapters: dict[Channel, ChannelAdapter]
) -> None:
    contact, phone, _ = recipient(fakes, Channel.WHATSAPP)
    refused = message(Channel.WHATSAPP, contact, template_allowed=False)
    try:
        await adapters[Channel.WHATSAPP].send(refused)
    except RecipientUnreachable as exc:
        assert "no approved template" in str(exc)
    else:
        raise AssertionError("sent a template no language of which is approved")
    assert sent(fakes, phone) == []
    await adapters[Channel.WHATSAPP].send(message(Channel.WHATSAPP, contact, template_language="en_US"))
    [request] = sent(fakes, phone)
    assert request["payload"]["template"]["language"] == {"code": "en_US"}


async def test_template_statuses_are_read_page_by_page(fakes: Fakes) -> None:
    names = {
        (f"page_test_{i}", lang): status
        for i in range(3)
        for lang, status in (("en", "APPROVED"), ("tr", "REJECTED"))
    }
    fakes.whatsapp.templates.update(names)
    adapter = WhatsAppAdapter(
        fakes.whatsapp.url, fakes.whatsapp.token, fakes.whatsapp.phone_number_id, business_account_id="WABA-1"
    )
    try:
        found = await adapter.template_statuses(page_size=2)
    finally:
        await adapter.aclose()
        for key in names:
            fakes.whatsapp.templates.pop(key, None)
    mine = sorted((n, lang, s) for n, lang, s, _ in found if n.startswith("page_test_"))
    assert mine == sorted(
        (n, lang, TemplateStatus.APPROVED if s == "APPROVED" else TemplateStatus.REJECTED)
        for (n, lang), s in names.items()
    )
