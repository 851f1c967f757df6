"""Inputs and results of every activity: one pydantic model each, defaulted for old histories."""

from __future__ import annotations

from pydantic import BaseModel, Field

from domain.chat import ChatSummary
from domain.contacts import Channel, Contact
from domain.events import Appointment, Balance, DomainEvent, Invoice, Lesson, Notification
from domain.planning import PlannedMessage, StepRecord
from domain.recall import RecallSummary
from domain.settings import DEFAULT_CHANNEL_COSTS, TenantSettings


class LoadSettingsInput(BaseModel):
    tenant: str


class PlanInput(BaseModel):
    """Everything a lifecycle's planner needs; the same for every lifecycle.

    Without settings (a run's first plan) the activity loads the tenant's and returns them with
    the plan: one local activity fewer per lifecycle.
    """

    events: list[DomainEvent] = Field(default_factory=list)
    settings: TenantSettings | None = Field(default_factory=TenantSettings)
    done: dict[str, StepRecord] = Field(default_factory=dict)
    tenant: str = ""


class AnswerInput(BaseModel):
    """The engine's answer to a patient's reply, its row waiting `planned` (activities/direct.py)."""

    tenant: str
    delivery_id: int
    channel: Channel
    recipient: Contact
    text: str
    # Before the first attempt: the provider's Retry-After, else a moment.
    wait_seconds: float = 0.0


class SendMessageInput(BaseModel):
    tenant: str
    workflow_id: str
    subject: str
    message: PlannedMessage
    appointment: Appointment | None = None
    lesson: Lesson | None = None
    invoice: Invoice | None = None
    balance: Balance | None = None
    chat: ChatSummary | None = None
    recall: RecallSummary | None = None
    # A one-off notification: its `data` is what the template renders, its category what it counts as.
    notification: Notification | None = None
    # Runs recorded before sends became cancellable ask their workflow right before the provider
    # call whether the message is still wanted; newer runs cancel the activity instead.
    guarded: bool = False
    # The lifecycle's episode: in the idempotency key, so a reused workflow id starts afresh.
    episode: str | None = None
    # Channels that already failed this message (a provider's later `failed` callback).
    exclude_channels: list[str] = Field(default_factory=list)
    default_locale: str = "en"
    channel_costs: dict[Channel, float] = Field(default_factory=lambda: dict(DEFAULT_CHANNEL_COSTS))


class SendMessageResult(BaseModel):
    delivery_id: int | None = None
    status: str
    channel: str | None = None
    provider: str | None = None
    reason: str | None = None
    # The planning code and zone rules of the worker that sent (activities/release.py): a lifecycle
    # whose plan was made with the same need not plan again after a send its plan did not read.
    release: str | None = None


class SettleSendInput(BaseModel):
    """A send its workflow cancelled: recorded skipped unless it already went."""

    idempotency_key: str
    reason: str


class SendBundleInput(BaseModel):
    """One round of a bundle's workflow: send what is held for `key` (domain/bundles.py)."""

    tenant: str
    key: str
    kind: str
    workflow_id: str
    # Names this round's send: a retry takes the same held messages and sends them once.
    claim: str
