"""Patients' free-text replies become events, consent records or a message to staff.

A reply (an SMS through Twilio, a WhatsApp text, a Telegram message) names only a phone number or a
chat. It is read against the last actionable message that went there on that channel
(domain/answers.py): `1`/`2`, `да`/`нет` to a visit reminder become `attendance.confirmed` /
`attendance.declined`, a digit after a feedback request `feedback.submitted`, through the outbox
like a button press. STOP-family words revoke consent for the channel in the ledger (confirmed
once), START grants it back, HELP answers with the clinic's contact. An answer about a time that
has since moved, or a visit since cancelled, is not applied: the patient is told what changed.
Anything else goes to the tenant's staff as a message and stays listed for them
(`GET /v1/replies?intent=unknown`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.direct import send_text
from activities.models import AnswerInput
from api.auth import StoreDep, Tenant
from api.channels import adapters
from api.openapi import TENANT_PROBLEMS
from api.problems import Problem
from api.relay import Accepted, Relay
from api.timeline import lifecycle_state
from domain.answers import QUESTIONS, Intent, read_reply
from domain.consent import ConsentCategory, ConsentChange, ConsentSource, allowed
from domain.contacts import Channel, Contact
from domain.deliveries import Delivery, DeliveryDraft, DeliveryStatus
from domain.events import EVENT_DATA, DomainEvent
from domain.routing import channel_order
from i18n.formatting import format_datetime
from store import EventStatus, InboundEventKey, Store
from store.consent import InboundReply, Ledger
from workflows.answer import AnswerWorkflow
from workflows.answer import workflow_id as answer_workflow_id
from workflows.inputs import AppointmentState
from workflows.routes import route

router = APIRouter(responses=TENANT_PROBLEMS)
log = logging.getLogger("nudgeflow.answers")
VERSION = re.compile(r"-v(\d+)")
# How long a webhook waits for Temporal to take an answer the provider refused for now (Twilio
# gives the webhook 15 s in all).
HANDOFF_BUDGET = 5.0
# A provider that asks to wait longer than this before the answer's next attempt: it is failed now.
LONGEST_WAIT = timedelta(minutes=5)

# What the engine itself answers; short, so an SMS stays one segment.
SAY: dict[str, dict[str, str]] = {
    "en": {
        "stop": "You will get no more messages here. Reply START to get them again.",
        "start": "You will get messages here again. Reply STOP to stop them.",
        "help": "{clinic}. Reply STOP to stop messages.",
        "moved": "Your visit has moved to {when}; your answer was not applied to the new time.",
        "cancelled": "Your visit on {when} was cancelled, so there is nothing to confirm.",
        "to_staff": "{who} wrote by {channel}, and it is not an answer the engine understands: «{text}»",
    },
    "ru": {
        "stop": "Больше не будем писать сюда. Чтобы снова получать сообщения, ответьте СТАРТ.",
        "start": "Снова будем писать сюда. Чтобы отписаться, ответьте СТОП.",
        "help": "{clinic}. Чтобы отписаться, ответьте СТОП.",
        "moved": "Ваш визит перенесён на {when}; ответ к новому времени не применён.",
        "cancelled": "Ваш визит {when} отменён, подтверждать нечего.",
        "to_staff": "{who} написал(а) в {channel}, ответ не распознан: «{text}»",
    },
}


def _say(key: str, locale: str, **values: str) -> str:
    texts = SAY.get(locale.split("-")[0].lower(), SAY["en"])
    return texts[key].format(**values)


async def text_reply(
    request: Request,
    store: Store,
    *,
    provider: str,
    channel: Channel,
    sender: str,
    text: str,
    message_id: str,
    tenant: str | None = None,
) -> InboundReply | None:
    """Act on one reply from `sender` (a phone, a Telegram chat id); None when it was acted on before."""
    ledger = Ledger(store.engine)
    if channel is Channel.TELEGRAM:
        contacts = [(t, c) for t, c in await ledger.contacts_with_chat(sender) if tenant in (None, t)]
    else:
        contacts = await ledger.contacts_with_phone(sender, tenant)
    keys = [(t, c.id) for t, c in contacts]
    question = await ledger.last_answerable(keys, channel.value, list(QUESTIONS))
    latest = question or await ledger.last_answerable(keys, channel.value, None)
    owner = (latest.tenant, latest.contact_id) if latest else (keys[0] if keys else None)
    contact = next((c for t, c in contacts if owner == (t, c.id)), None)
    about = question or latest
    read = read_reply(
        text, contact.locale if contact else "en", QUESTIONS.get(question.template) if question else None
    )
    reply = await ledger.claim_reply(
        InboundReply(
            tenant=owner[0] if owner else None,
            contact_id=owner[1] if owner else None,
            channel=channel.value,
            provider=provider,
            message_id=message_id,
            sender=sender,
            text=text[:2000],
            intent=read.intent.value,
            delivery_id=about.id if about else None,
        )
    )
    if reply is None:
        return None  # a redelivered webhook: it did what it does once
    assert reply.id is not None
    if owner is None or contact is None:
        outcome = "no contact has this number: kept for staff"
    elif read.intent in (Intent.STOP, Intent.START):
        outcome = await _consent(request, store, ledger, reply, contacts, channel, read.intent)
    elif read.intent is Intent.HELP:
        outcome = await _help(request, store, reply, owner[0], contact, channel, latest)
    elif read.intent in (Intent.CONFIRM, Intent.DECLINE, Intent.RATING) and question is not None:
        extra: dict[str, Any] = {"rating": read.rating, "comment": read.comment} if read.rating else {}
        event_type = {
            Intent.CONFIRM: "attendance.confirmed",
            Intent.DECLINE: "attendance.declined",
            Intent.RATING: "feedback.submitted",
        }[read.intent]
        if QUESTIONS.get(question.template) == "slot":  # "yes" takes the offered slot, "no" does nothing
            event_type = "slot.accepted" if read.intent is Intent.CONFIRM else "slot.declined"
        outcome = await answer(
            request, store, f"/inbound/{provider}", question, event_type, extra, reply.message_id
        )
        if outcome.startswith("stale"):
            await say(request, store, owner[0], contact, channel, outcome.partition(": ")[2], f"{reply.id}")
    else:
        outcome = await _to_staff(request, store, owner[0], contact, reply)
    await ledger.settle_reply(reply.id, read.intent.value, outcome)
    return reply.model_copy(update={"outcome": outcome})


async def _consent(
    request: Request,
    store: Store,
    ledger: Ledger,
    reply: InboundReply,
    contacts: list[tuple[str, Contact]],
    channel: Channel,
    intent: Intent,
) -> str:
    """STOP or START for this channel, every category, every tenant that knows the number.

    The sender number is shared by the tenants behind it and the gateway blocks it for all of them,
    so the ledger says the same. The confirmation goes once: a second STOP changes nothing.
    """
    status = "revoked" if intent is Intent.STOP else "granted"
    done: list[str] = []
    for tenant, contact in contacts:
        before = await ledger.consents(tenant, contact.id)
        was_allowed = all(allowed(before, contact, channel, c) for c in ConsentCategory)
        if was_allowed == (status == "granted"):
            continue
        changes = [
            ConsentChange(
                contact_id=contact.id,
                category=category,
                status=status,
                channel=channel,
                contact_point=reply.sender,
                source=ConsentSource.KEYWORD,
                evidence={"message_id": reply.message_id, "provider": reply.provider, "text": reply.text},
                actor=f"{channel.value}:{reply.sender}",
            )
            for category in ConsentCategory
        ]
        await ledger.append(tenant, changes)
        await _consent_event(store, tenant, f"/inbound/{reply.provider}", reply.message_id, changes[0])
        if not done:  # one confirmation, however many tenants share the number
            text = _say(intent.value, contact.locale)
            await say(request, store, tenant, contact, channel, text, f"{reply.id}")
        done.append(tenant)
    verb = "consent revoked" if status == "revoked" else "consent granted"
    return f"{verb} on {channel.value}" if done else f"{verb} already: nothing changed"


async def _consent_event(
    store: Store, tenant: str, source: str, message_id: str, change: ConsentChange
) -> None:
    """`consent.revoked` / `consent.granted` in the outbox with the other events (settled at once)."""
    await store.claim_events(
        tenant,
        [
            InboundEventKey(
                source=source,
                event_id=f"consent:{message_id}:{change.contact_id}",
                type=f"consent.{change.status}",
                subject=change.contact_id,
            )
        ],
    )


async def _to_staff(
    request: Request, store: Store, tenant: str, contact: Contact, reply: InboundReply
) -> str:
    """A reply nobody could read goes to the tenant's staff as a message, each on their cheapest channel."""
    log.warning("a reply from contact %s of tenant %s needs a person", contact.id, tenant)
    settings = await store.get_settings(tenant)
    name = f"{contact.name} ({reply.sender})" if contact.name else reply.sender
    told = 0
    for person in settings.staff_recipients:
        order = channel_order(person, settings.channel_costs, "staff_patient_reply")
        if not order:
            continue
        text = _say("to_staff", person.locale, who=name, channel=reply.channel, text=reply.text[:500])
        sent = await say(request, store, tenant, person, order[0], text, f"{reply.id}:{person.id}")
        told += sent is not None and sent.status == DeliveryStatus.SENT
    return "not understood: sent to staff" if told else "not understood: kept for staff"


async def _help(
    request: Request,
    store: Store,
    reply: InboundReply,
    tenant: str,
    contact: Contact,
    channel: Channel,
    latest: Delivery | None,
) -> str:
    clinic = await _clinic_contact(request, tenant, latest)
    await say(
        request, store, tenant, contact, channel, _say("help", contact.locale, clinic=clinic), f"{reply.id}"
    )
    return "answered with the clinic's contact"


async def _clinic_contact(request: Request, tenant: str, latest: Delivery | None) -> str:
    """The clinic as the patient's last message named it: location, address and phone if known."""
    if latest is not None and latest.subject.startswith("appointment:"):
        state = await appointment_state(request, tenant, latest.subject.partition(":")[2])
        details = state.view.details if state and state.view else None
        if details is not None:
            where = details.location
            phone = str(getattr(where, "phone", "") or "")
            return ", ".join(part for part in (where.name, where.address, phone) if part)
    return tenant


async def appointment_state(request: Request, tenant: str, appointment_id: str) -> AppointmentState | None:
    try:
        _, state = await lifecycle_state(request.app.state.temporal, tenant, "appointment", appointment_id)
    except (Problem, RPCError):
        return None
    return state if isinstance(state, AppointmentState) else None


async def stale(request: Request, delivery: Delivery) -> str | None:
    """What changed since a reminder was sent, in the patient's words; None while it still holds."""
    version = VERSION.search(delivery.step)
    if version is None or not delivery.subject.startswith("appointment:"):
        return None
    state = await appointment_state(request, delivery.tenant, delivery.subject.partition(":")[2])
    view = state.view if state else None
    if view is None or view.details is None:
        return None
    details = view.details
    locale, tz = details.patient.locale, details.patient.timezone
    when = format_datetime(details.starts_at, locale, tz, "short")
    if view.status.value in ("cancelled", "rejected"):
        return _say("cancelled", locale, when=when)
    if view.schedule_version != int(version.group(1)):
        return _say("moved", locale, when=when)
    return None


async def answer(
    request: Request,
    store: Store,
    source: str,
    delivery: Delivery,
    event_type: str,
    extra: dict[str, Any],
    answer_id: str,
) -> str:
    """The answer to a delivery's question as its domain event, through the outbox; what it did."""
    changed = await stale(request, delivery)
    if changed is not None:
        return f"stale: {changed}"
    kind, _, aggregate_id = delivery.subject.partition(":")
    payload: dict[str, Any] = {"appointment_id": aggregate_id}
    version = VERSION.search(delivery.step)
    if version is not None:
        # The time the patient answered about: the lifecycle ignores it if the time moved since.
        payload["schedule_version"] = int(version.group(1))
    if event_type in ("feedback.submitted", "payment.reported"):
        # About the lifecycle the message came from: a lesson's rating, an invoice's "I've paid".
        payload = {"subject_id": aggregate_id, "subject_kind": kind, **{k: v for k, v in extra.items() if v}}
    if event_type == "slot.declined":
        return "declined the offered slot"
    if event_type == "slot.accepted":
        # Which offer, to whom: the slot's workflow lets the first of them win.
        payload = {"slot_id": aggregate_id, "step": delivery.step, "contact_id": delivery.contact_id}
        payload["delivery_id"] = delivery.id
    target = route(delivery.tenant, event_type, EVENT_DATA[event_type].model_validate(payload))
    if target is None:
        return "nothing owns it"
    now = datetime.now(UTC)
    event = DomainEvent(
        id=f"reply:{delivery.id}:{answer_id}",
        source=source,
        type=event_type,
        tenant=delivery.tenant,
        time=now,
        received_at=now,
        data=payload,
    )
    accepted = Accepted(delivery.tenant, target, event)
    seen = await store.claim_events(delivery.tenant, [accepted.outbox_row(subject=aggregate_id)])
    if seen[accepted.key] == EventStatus.NEW:
        relay: Relay = request.app.state.relay
        await relay.deliver([accepted])
    return event_type


def answer_draft(tenant: str, contact_id: str, key: str, at: datetime) -> DeliveryDraft:
    """The delivery row of the engine's answer `key` to a contact (one per reply it answers)."""
    return DeliveryDraft(
        tenant=tenant,
        idempotency_key=f"reply:{tenant}:{contact_id}:{key}",
        subject=f"contact:{contact_id}",
        workflow_id=f"reply:{tenant}:{contact_id}",
        step=f"reply-{key}",
        contact_id=contact_id,
        template="reply",
        scheduled_for=at,
    )


async def say(
    request: Request, store: Store, tenant: str, contact: Contact, channel: Channel, text: str, key: str
) -> Delivery | None:
    """Send the engine's own answer on the channel the reply came in, recorded in the delivery log."""
    row, created = await store.begin_delivery(answer_draft(tenant, contact.id, key, datetime.now(UTC)))
    if not created:
        return row
    recipient = await store.contact_for_sending(tenant, contact)
    adapter = (await adapters(request.app)).get(channel)

    async def later(waiting: Delivery, wait: timedelta) -> bool:
        """The provider did not take it now: AnswerWorkflow tries again for a few minutes."""
        if wait > LONGEST_WAIT:
            return False  # an answer that long after the reply is no answer
        answer = AnswerInput(
            tenant=tenant,
            delivery_id=waiting.id,
            channel=channel,
            recipient=recipient,
            text=text,
            wait_seconds=wait.total_seconds(),
        )
        start = request.app.state.temporal.start_workflow(
            AnswerWorkflow.run,
            answer,
            id=answer_workflow_id(waiting.idempotency_key),
            task_queue=request.app.state.settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        try:
            await asyncio.wait_for(start, HANDOFF_BUDGET)
        except WorkflowAlreadyStartedError:
            pass  # a redelivered webhook: it is in hand already
        except Exception as exc:  # Temporal is away: the webhook still answers in the provider's time
            log.warning("the answer to a reply cannot be tried again later (%s)", type(exc).__name__)
            return False
        return True

    return await send_text(
        store, row, adapter, channel, recipient, text, what="the answer to a reply", later=later
    )


@router.get("/v1/contacts/{contact_id}/consents")
async def contact_consents(contact_id: str, tenant: Tenant, store: StoreDep) -> dict[str, Any]:
    """The contact's consent ledger, oldest first: every grant and revocation with its evidence."""
    records = await Ledger(store.engine).consents(tenant, contact_id)
    return {"contact_id": contact_id, "consents": [r.model_dump(mode="json") for r in records]}


@router.get("/v1/replies")
async def inbound_replies(
    tenant: Tenant,
    store: StoreDep,
    intent: Intent | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Patients' replies, newest first, with what each did; `intent=unknown` is for a person to read."""
    found = await Ledger(store.engine).replies(tenant, intent=intent.value if intent else None, limit=limit)
    return {"replies": [r.model_dump(mode="json") for r in found]}
