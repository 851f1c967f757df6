"""`/v1/inbound/{provider}`: provider callbacks and replies, each refused unless its signature checks.

Button presses become attendance/feedback events for the owning workflow; status callbacks move
the delivery log forward; a `/start <token>` links a Telegram chat to the contact.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from temporalio.client import Client
from temporalio.service import RPCError

from api import answers
from api.auth import StoreDep
from api.channels import channels_config
from api.problems import FieldError, Problem
from channels import replies, twilio, whatsapp
from channels.config import reply_secret
from domain.contacts import Channel
from domain.deliveries import Delivery, DeliveryStatus
from domain.routing import WHATSAPP_WINDOW
from i18n import TemplateNotFound, TemplateOverride, TemplateRenderer, TemplateRenderError
from store import Store
from store.consent import Ledger
from workflows.inputs import DeliveryFailed

log = logging.getLogger("nudgeflow.inbound")
# What reading a provider's body that is not the shape it documents raises.
MALFORMED = (ValueError, KeyError, TypeError, AttributeError, IndexError)
E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
# Twilio's SIDs are two letters and 32 hex digits; anything that fits the store's columns is read.
TWILIO_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")
MAX_TEXT = 10_000


class InboundRoute(APIRoute):
    """A provider's body we cannot read (after its signature checked) is a 400 problem, never a 500."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except MALFORMED as exc:
                log.warning("malformed body on %s: %s", request.url.path, type(exc).__name__)
                detail = "the body is not the shape the provider documents"
                raise Problem(400, "Malformed body", detail) from exc

        return guarded


router = APIRouter(prefix="/v1/inbound", route_class=InboundRoute)
EXPIRED = "This button has expired."
# What the person who pressed a button is told (Telegram shows it at once), in the message's language.
THANKS = {"en": "Thank you, noted.", "ru": "Спасибо, отмечено.", "de": "Danke, notiert."}
PAID = {
    "en": "Thank you! We will check the payment.",
    "ru": "Спасибо! Мы проверим оплату.",
    "de": "Danke! Wir prüfen die Zahlung.",
}
WELCOME = "telegram_welcome"
_TEMPLATES = TemplateRenderer()
ALREADY_LINKED = (
    "This link was already used from another Telegram chat, so nothing changed. "
    "If that was not you, please tell the clinic."
)

WHATSAPP_STATUS = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}
TWILIO_STATUS = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
}
SMSAERO_STATUS = {1: "delivered", 2: "failed", 6: "failed"}
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _secret_matches(expected: Any, given: str | None) -> bool:
    # Without a configured secret nothing is accepted: an open callback URL would let anyone in.
    return (
        expected is not None and given is not None and hmac.compare_digest(expected.get_secret_value(), given)
    )


def _forged(provider: str) -> Problem:
    return Problem(401, "Bad signature", f"the {provider} callback is not signed with our secret")


async def _press(
    request: Request, store: Store, provider: str, data: str, chat_id: str | None, phone: str | None = None
) -> str:
    """Turn a button press into its domain event; what to tell the person who pressed it."""
    config = channels_config(request)
    found = replies.pressed(data, reply_secret(config), datetime.now(UTC))
    delivery = await store.get_delivery(found[0]) if found else None
    meaning = replies.answer(delivery.template, found[1]) if delivery and found else None
    if delivery is None or found is None or meaning is None:
        return EXPIRED
    if phone is not None and not await _whatsapp_sender(store, delivery, phone):
        return EXPIRED
    if chat_id is not None:
        # A press counts from the chat the message went to, never from one it was forwarded to.
        if delivery.channel != "telegram" or _chat_of(delivery.provider_message_id) != chat_id:
            return EXPIRED
        await store.bind_telegram(delivery.tenant, delivery.contact_id, chat_id)  # alive again
    event_type, extra = meaning
    # The same button pressed twice is one answer (event id `reply:<delivery>:<index>`), through the
    # outbox like every event; an answer about a time that has moved since is not applied.
    done = await answers.answer(
        request, store, f"/inbound/{provider}", delivery, event_type, dict(extra), str(found[1])
    )
    if done.startswith("stale: "):
        if phone is not None:
            # WhatsApp has no callback answer: what changed goes back as a message, once per press.
            contact = await store.get_contact(delivery.tenant, delivery.contact_id)
            if contact is not None:
                text, key = done.removeprefix("stale: "), f"stale:{delivery.id}:{found[1]}"
                await answers.say(request, store, delivery.tenant, contact, Channel.WHATSAPP, text, key)
        return done.removeprefix("stale: ")
    if done == "nothing owns it":
        return EXPIRED
    said = PAID if event_type == "payment.reported" else THANKS
    return said.get((delivery.locale or "en").split("-")[0].lower(), said["en"])


@router.post("/telegram")
async def telegram_update(request: Request, store: StoreDep) -> Response:
    config = channels_config(request)
    if not _secret_matches(
        config.telegram_webhook_secret, request.headers.get("x-telegram-bot-api-secret-token")
    ):
        raise _forged("telegram")
    update = json.loads(await request.body())
    if callback := update.get("callback_query"):
        chat = ((callback.get("message") or {}).get("chat") or {}).get("id")
        text = await _press(
            request, store, "telegram", str(callback.get("data", "")), str(chat) if chat else None
        )
        # Answering in the webhook response stops the client's progress bar with no extra call.
        return JSONResponse(
            {"method": "answerCallbackQuery", "callback_query_id": callback["id"], "text": text}
        )
    message = update.get("message") or {}
    command, _, token = str(message.get("text", "")).partition(" ")
    if command == "/start" and token:
        delivery_id = replies.start_delivery(token.strip(), reply_secret(config), datetime.now(UTC))
        delivery = await store.get_delivery(delivery_id) if delivery_id else None
        if delivery is not None:
            chat_id = str(message["chat"]["id"])
            if await store.bind_telegram(delivery.tenant, delivery.contact_id, chat_id):
                # From now on the router sends this contact's messages here first (store/callbacks.py).
                text = await welcome(store, delivery)
                return JSONResponse({"method": "sendMessage", "chat_id": chat_id, "text": text})
            # No silent takeover: the contact keeps its chat; staff can relink it if the patient asks.
            log.warning(
                "telegram /start refused: contact %s of tenant %s is linked to another chat",
                delivery.contact_id,
                delivery.tenant,
            )
            return JSONResponse({"method": "sendMessage", "chat_id": chat_id, "text": ALREADY_LINKED})
    elif message.get("text") and not str(message["text"]).startswith("/start"):
        # Typed text from a chat: an answer, a STOP, a question for staff (api/answers.py).
        chat = str(message["chat"]["id"])
        await answers.text_reply(
            request,
            store,
            provider="telegram",
            channel=Channel.TELEGRAM,
            sender=chat,
            text=str(message["text"]),
            message_id=f"{chat}:{message['message_id']}",
        )
    return JSONResponse({})


async def welcome(store: Store, delivery: Delivery) -> str:
    """`telegram_welcome` in the contact's language (the tenant's published text, else the file)."""
    contact = await store.get_contact(delivery.tenant, delivery.contact_id)
    settings = await store.get_settings(delivery.tenant)
    published = await store.published_templates(delivery.tenant, WELCOME)
    locale = contact.locale if contact and contact.locale else delivery.locale or settings.default_locale
    recipient = {"name": contact.name if contact else None, "locale": locale, "timezone": settings.timezone}
    try:
        rendered = _TEMPLATES.render(
            WELCOME,
            locale=locale,
            channel=Channel.TELEGRAM.value,
            context={"recipient": recipient, "now": datetime.now(UTC)},
            timezone=contact.timezone if contact and contact.timezone else settings.timezone,
            default_locale=settings.default_locale,
            overrides=[TemplateOverride(v.locale, v.channel, v.fields, v.id) for v in published],
        )
    except (TemplateRenderError, TemplateNotFound) as exc:
        log.warning("telegram welcome not rendered: %s", exc)
        return "✓"
    return rendered.body


def _with_and_without_default_port(url: str) -> list[str]:
    """The URL, and the same with its scheme's default port written out or left out: Twilio may
    have signed either form (twilio-python's validator checks both)."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None or parts.hostname is None:
        return [url]
    if parts.port is None:
        return [url, urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}"))]
    if parts.port == default:
        return [url, urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]))]
    return [url]


async def _whatsapp_sender(store: Store, delivery: Delivery, phone: str) -> bool:
    """A WhatsApp press counts from the number of the contact the message went to, on WhatsApp."""
    if delivery.channel != Channel.WHATSAPP.value:
        return False
    contacts = await Ledger(store.engine).contacts_with_phone(phone, delivery.tenant)
    return any(contact.id == delivery.contact_id for _, contact in contacts)


def _chat_of(provider_message_id: str | None) -> str | None:
    """The chat a Telegram message went to: its provider id is `<chat id>:<message id>`."""
    return provider_message_id.partition(":")[0] if provider_message_id else None


@router.get("/whatsapp")
async def whatsapp_verify(request: Request) -> Response:
    """Meta's one-time handshake when the webhook URL is configured."""
    params = request.query_params
    config = channels_config(request)
    if params.get("hub.mode") != "subscribe" or not _secret_matches(
        config.whatsapp_verify_token, params.get("hub.verify_token")
    ):
        raise Problem(403, "Forbidden", "the verify token does not match")
    return PlainTextResponse(params.get("hub.challenge", ""))


@router.post("/whatsapp")
async def whatsapp_update(request: Request, store: StoreDep) -> Response:
    config = channels_config(request)
    body = await request.body()
    secret = config.whatsapp_app_secret
    if secret is None or not whatsapp.valid_signature(
        secret.get_secret_value(), body, request.headers.get("x-hub-signature-256")
    ):
        raise _forged("whatsapp")
    for entry in json.loads(body).get("entry", []):
        for change in entry.get("changes", []):
            value = change.get("value") or {}
            for status in value.get("statuses", []):
                reported = WHATSAPP_STATUS.get(status.get("status", ""))
                if reported is None:
                    continue
                errors = status.get("errors") or []
                detail = f"{errors[0].get('code')}: {errors[0].get('title', '')}" if errors else None
                at = datetime.fromtimestamp(int(status.get("timestamp", 0)), UTC)
                await _record_status(
                    request, store, "whatsapp", status["id"], DeliveryStatus(reported), detail=detail, at=at
                )
            for message in value.get("messages", []):
                # Every message from the person opens (or extends) the 24-hour free-text window.
                sent_at = datetime.fromtimestamp(int(message.get("timestamp", 0)), UTC)
                await store.open_whatsapp_window(f"+{message['from']}", sent_at + WHATSAPP_WINDOW)
                interactive = message.get("interactive") or {}
                reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
                # A template's quick-reply button carries its payload instead.
                button = message.get("button") or {}
                if reply.get("id") or button.get("payload"):
                    data = str(reply.get("id") or button["payload"])
                    await _press(request, store, "whatsapp", data, None, phone=f"+{message['from']}")
                elif message.get("type") == "text" and message.get("id"):
                    await answers.text_reply(
                        request,
                        store,
                        provider="whatsapp",
                        channel=Channel.WHATSAPP,
                        sender=f"+{message['from']}",
                        text=str((message.get("text") or {}).get("body", "")),
                        message_id=str(message["id"]),
                    )
    return JSONResponse({"ok": True})


async def _record_status(
    request: Request,
    store: Store,
    provider: str,
    provider_message_id: str,
    reported: DeliveryStatus,
    *,
    detail: str | None = None,
    at: datetime | None = None,
) -> None:
    """Record a provider's status; a `failed` after `sent` goes to the message's lifecycle, which
    sends it on the next channel or tells staff (the `delivery_failed` signal)."""
    delivery = await store.record_status(provider, provider_message_id, reported, detail=detail, at=at)
    if delivery is None or reported != DeliveryStatus.FAILED or delivery.status != DeliveryStatus.FAILED:
        return
    temporal: Client | None = getattr(request.app.state, "temporal", None)
    if temporal is None or delivery.channel is None:
        return
    notice = DeliveryFailed(
        step=delivery.step,
        channel=delivery.channel,
        delivery_id=delivery.id,
        reason=f"{provider}: {detail or 'failed'}",
    )
    try:
        await temporal.get_workflow_handle(delivery.workflow_id).signal("delivery_failed", notice)
    except RPCError as exc:
        # The lifecycle has ended: the failure stays visible in the delivery log and staff's queue.
        log.warning("delivery %s failed after its lifecycle ended: %s", delivery.id, exc.message)


def _incoming_errors(form: dict[str, str]) -> list[FieldError]:
    """What makes a form no incoming message: no SID, a sender that is no phone number, NULs."""
    errors = [
        FieldError(field=name, message="holds a NUL character") for name, v in form.items() if "\x00" in v
    ]
    if not TWILIO_SID.match(form.get("MessageSid", "")):
        errors.append(FieldError(field="MessageSid", message="a Twilio message SID is required"))
    if not E164.match(form.get("From", "")):
        errors.append(FieldError(field="From", message="an E.164 phone number is required"))
    if len(form.get("Body", "")) > MAX_TEXT:
        errors.append(FieldError(field="Body", message=f"over {MAX_TEXT} characters"))
    return errors


@router.post("/twilio")
async def twilio_status(request: Request, store: StoreDep) -> Response:
    config = channels_config(request)
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        # Twilio posts forms, and only forms: anything else did not come from it.
        raise Problem(415, "Unsupported media type", "Twilio posts application/x-www-form-urlencoded")
    form = {key: str(value) for key, value in (await request.form()).items()}
    # Twilio signs the whole URL it called, query string included: ours as the public sees it, not
    # as the proxy forwarded it.
    url = str(request.url)
    if config.public_base_url:
        query = f"?{request.url.query}" if request.url.query else ""
        url = f"{config.public_base_url.rstrip('/')}{request.url.path}{query}"
    token, signature = config.twilio_auth_token, request.headers.get("x-twilio-signature")
    if token is None or not any(
        twilio.valid_signature(token.get_secret_value(), candidate, form, signature)
        for candidate in _with_and_without_default_port(url)
    ):
        raise _forged("twilio")
    if form.get("SmsStatus") == "received" or ("Body" in form and "MessageStatus" not in form):
        # A message from a patient (the number's "a message comes in" webhook): an answer, a STOP.
        sender, sid = form.get("From", ""), form.get("MessageSid", "")
        if errors := _incoming_errors(form):
            why = "an incoming message needs MessageSid and an E.164 From"
            raise Problem(400, "Bad request", why, errors=errors)
        await answers.text_reply(
            request,
            store,
            provider="twilio",
            channel=Channel.SMS,
            sender=sender,
            text=form.get("Body", ""),
            message_id=sid,
            tenant=request.query_params.get("tenant"),
        )
        # Empty TwiML: our answers go through the Messages API, recorded in the delivery log.
        return Response(EMPTY_TWIML, media_type="text/xml")
    reported = TWILIO_STATUS.get(form.get("MessageStatus", ""))
    if reported is not None and form.get("MessageSid"):
        detail = f"error {form['ErrorCode']}" if form.get("ErrorCode") else None
        await _record_status(
            request, store, "twilio", form["MessageSid"], DeliveryStatus(reported), detail=detail
        )
    return Response(status_code=204)


@router.post("/smsaero")
async def smsaero_status(request: Request, store: StoreDep) -> Response:
    # SMS Aero signs nothing: the callback URL we gave it carries a secret.
    if not _secret_matches(
        channels_config(request).smsaero_callback_secret, request.query_params.get("secret")
    ):
        raise _forged("smsaero")
    if request.headers.get("content-type", "").startswith("application/json"):
        report: dict[str, Any] = json.loads(await request.body())
    else:
        report = {key: str(value) for key, value in (await request.form()).items()}
    reported = SMSAERO_STATUS.get(int(report.get("status", -1)))
    if reported is not None and report.get("id") is not None:
        detail = str(report.get("extendStatus") or "") or None
        await _record_status(
            request, store, "smsaero", str(report["id"]), DeliveryStatus(reported), detail=detail
        )
    return JSONResponse({"success": True})
