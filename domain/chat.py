"""Unread-chat escalation as pure functions: push after a moment, SMS later, one per unread run."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from domain.contacts import Channel, Contact
from domain.events import ChatMessage, DomainEvent, fold_into, ordered
from domain.planning import LifecyclePlan, MessageFacts, Planner, StepRecord
from domain.settings import TenantSettings

PUSH_CHANNELS = [Channel.PUSH, Channel.WEBPUSH]
SMS_CHANNELS = [Channel.SMS]


class ChatStatus(StrEnum):
    UNREAD = "unread"
    READ = "read"


class ChatSummary(BaseModel):
    """What the escalation's templates say: who wrote, how many are unread, a preview."""

    conversation_id: str
    sender_name: str = ""
    preview: str = ""
    unread: int = 0


class ChatView(BaseModel):
    contact: Contact | None = None
    conversation_id: str = ""
    # Message ids in conversation order, and how many of them (from the start) are read.
    messages: list[str] = Field(default_factory=list)
    arrived: dict[str, datetime] = Field(default_factory=dict)
    read_upto: int = 0
    read_early: list[str] = Field(default_factory=list)
    last_sender: str = ""
    last_preview: str = ""
    last_event_at: datetime | None = None

    @property
    def unread(self) -> list[str]:
        return self.messages[self.read_upto :]

    @property
    def status(self) -> ChatStatus:
        return ChatStatus.UNREAD if self.unread else ChatStatus.READ


def apply(view: ChatView, event: DomainEvent) -> None:
    data = event.parsed()
    assert isinstance(data, ChatMessage)
    view.last_event_at = event.received_at
    view.contact, view.conversation_id = data.contact, data.conversation_id
    if event.type == "chat.message_sent":
        if data.message_id in view.arrived:
            return
        view.arrived[data.message_id] = event.received_at
        view.messages.append(data.message_id)
        view.last_sender, view.last_preview = data.sender_name, data.preview
        if data.message_id in view.read_early:  # its read receipt overtook it
            view.read_upto = len(view.messages)
    elif data.message_id in view.arrived:
        # Reading a message reads everything before it too.
        view.read_upto = max(view.read_upto, view.messages.index(data.message_id) + 1)
    else:
        view.read_early.append(data.message_id)


def fold(events: list[DomainEvent]) -> ChatView:
    return fold_into(ChatView(), events, apply)


def compact(events: list[DomainEvent]) -> list[DomainEvent]:
    """The events a continued run needs: the unread messages' and the newest one (for the contact)."""
    view = fold(events)
    unread = set(view.unread)
    kept = [
        e for e in ordered(events) if e.type == "chat.message_sent" and e.data.get("message_id") in unread
    ]
    newest = ordered(events)[-1]
    return kept if newest in kept else [*kept, newest]


def compact_done(events: list[DomainEvent], done: Mapping[str, StepRecord]) -> dict[str, StepRecord]:
    """The done steps of the escalation still open; older ones live on in the delivery log."""
    unread = set(fold(events).unread)
    return {step: record for step, record in done.items() if step.split("/", 1)[1] in unread}


class ChatPlan(LifecyclePlan):
    view: ChatView

    @property
    def status(self) -> str:
        return self.view.status.value

    def send_fields(self) -> dict[str, Any]:
        view = self.view
        summary = ChatSummary(
            conversation_id=view.conversation_id,
            sender_name=view.last_sender,
            preview=view.last_preview,
            unread=len(view.unread),
        )
        return {"chat": summary}


def plan_chat(view: ChatView, settings: TenantSettings, done: Mapping[str, StepRecord]) -> ChatPlan:
    """One escalation per run of unread messages: push (any hour), then SMS (outside quiet hours)."""
    assert view.last_event_at is not None and view.contact is not None
    close_at = view.last_event_at + settings.chat_idle_close
    if not view.unread:
        return ChatPlan(view=view, close_at=close_at)
    p = Planner(settings, done, staff_timezone=settings.timezone)
    first = view.unread[0]
    started = view.arrived[first]
    facts = MessageFacts(unread=len(view.unread))
    push_at = started + settings.chat_push_delay
    # The push is the nudge of the moment: it does not wait for morning, and is pointless once SMS goes.
    p.to_contact(
        f"push/{first}",
        "chat_unread_push",
        "contact",
        view.contact,
        push_at,
        deadline=None,
        expires_at=started + settings.chat_sms_delay,
        quiet=False,
        facts=facts,
        channels=PUSH_CHANNELS,
    )
    sms = p.to_contact(
        f"sms/{first}",
        "chat_unread_sms",
        "contact",
        view.contact,
        started + settings.chat_sms_delay,
        deadline=None,
        expires_at=None,
        facts=facts,
        channels=SMS_CHANNELS,
        lateness=settings.max_lateness,
    )
    sms_at = sms.send_at
    return ChatPlan(view=view, messages=p.messages, close_at=max(close_at, sms_at))


def wanted(events: list[DomainEvent], step: str) -> bool:
    """Whether an escalation step still has unread messages behind it (safe in a query: no time zones)."""
    first = step.split("/", 1)[1]
    view = fold(events)
    return first in view.unread
