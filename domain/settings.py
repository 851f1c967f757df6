"""A tenant's settings: reminder offsets, quiet hours, SLAs, staff recipients, channel costs."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, field_validator, model_validator

from domain.cadence import CadencePolicy
from domain.contacts import Channel, Contact, check_locale, check_timezone
from domain.costs import MessagePrices
from domain.fields import Duration, Id, Text, WallClock
from domain.periods import parse_period


class DailyWindow(BaseModel):
    """A span of local wall-clock time; `start > end` wraps past midnight (21:00-09:00)."""

    start: WallClock
    end: WallClock

    @model_validator(mode="after")
    def _not_empty(self) -> DailyWindow:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self


# A price per message: finite, never negative, never absurd.
Cost = Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]


def _hours(n: float) -> timedelta:
    return timedelta(hours=n)


DEFAULT_CHANNEL_COSTS: dict[Channel, float] = {
    Channel.OUTBOX: 0.0,
    Channel.PUSH: 0.0,
    Channel.WEBPUSH: 0.0,
    Channel.TELEGRAM: 0.0,
    Channel.EMAIL: 0.001,
    Channel.WEBHOOK: 0.0,
    Channel.WHATSAPP: 0.03,
    Channel.SMS: 0.05,
}


class RecallRule(BaseModel):
    """A service whose completed visit opens the patient's recall: which recall, due how long after."""

    recall_type: Id = Field(min_length=1)
    # An ISO 8601 calendar period (`P6M1D`): months counted on the patient's calendar.
    interval: str

    @field_validator("interval")
    @classmethod
    def _period(cls, value: str) -> str:
        parse_period(value)
        return value


def _recall_rules(value: object) -> object:
    """`{"hygiene": "P6M1D"}` is the short form: the service code names the recall type too."""
    if isinstance(value, dict):
        return {
            code: {"recall_type": code, "interval": rule} if isinstance(rule, str) else rule
            for code, rule in value.items()
        }
    return value


class TenantSettings(BaseModel):
    """Every delay, offset and SLA of the lifecycles; a workflow keeps the copy it started with."""

    timezone: str = "UTC"
    default_locale: str = "en"
    reminder_offsets: list[Duration] = Field(default_factory=lambda: [_hours(24), _hours(2)], max_length=10)
    quiet_hours: DailyWindow | None = Field(
        default_factory=lambda: DailyWindow(start=time(21, 0), end=time(9, 0))
    )
    business_hours: DailyWindow = Field(
        default_factory=lambda: DailyWindow(start=time(9, 0), end=time(20, 0))
    )
    # A booking made outside business hours for an appointment starting within this long after
    # the next opening is flagged to staff at once: nobody would see it in time otherwise.
    early_booking_window: Duration = Field(default_factory=lambda: _hours(3))
    confirmation_sla: Duration = Field(default_factory=lambda: timedelta(minutes=30))
    feedback_delay: Duration = Field(default_factory=lambda: _hours(2))
    feedback_followup_delay: Duration = Field(default_factory=lambda: _hours(24))
    feedback_window: Duration = Field(default_factory=lambda: timedelta(days=7))
    low_rating_threshold: int = Field(default=3, ge=1, le=5)
    # How late a planned message may still go out (worker down, provider outage).
    max_lateness: Duration = Field(default_factory=lambda: _hours(1))
    # Payment nudges after the due date (invoices) or after the low-balance event; then a manager.
    payment_nudge_offsets: list[Duration] = Field(
        default_factory=lambda: [timedelta(0), timedelta(days=3), timedelta(days=7)], max_length=10
    )
    payment_escalation_delay: Duration = Field(default_factory=lambda: timedelta(days=1))
    # Unread chat message: push after the first delay, SMS after the second; idle conversations end.
    chat_push_delay: Duration = Field(default_factory=lambda: timedelta(seconds=5))
    chat_sms_delay: Duration = Field(default_factory=lambda: timedelta(minutes=10))
    chat_idle_close: Duration = Field(default_factory=lambda: timedelta(days=1))
    # A freed slot goes to the waitlist this many at a time, this far apart, never within the
    # cut-off before it starts, and to one patient at most this many times a (their local) day.
    slot_offer_batch: int = Field(default=10, ge=1, le=1000)
    slot_offer_spacing: Duration = Field(default_factory=lambda: timedelta(minutes=5))
    slot_offer_cutoff: Duration = Field(default_factory=lambda: _hours(2))
    slot_offers_per_day: int = Field(default=3, ge=1, le=100)
    staff_recipients: list[Contact] = Field(default_factory=list, max_length=50)
    # Recall: by service code, the recall a completed visit of it opens (`{"hygiene": "P6M1D"}`);
    # invitations from the due date on this ladder (days after it); the clinic's booking link.
    recall_intervals: Annotated[dict[Id, RecallRule], BeforeValidator(_recall_rules)] = Field(
        default_factory=dict, max_length=100
    )
    recall_ladder: list[Duration] = Field(
        default_factory=lambda: [timedelta(0), timedelta(days=14), timedelta(days=30)],
        min_length=1,
        max_length=10,
    )
    booking_url: Text = ""
    # Non-urgent staff messages within this many minutes go as one digest (0: each at once).
    # Lesson reminders to one guardian due at the same moment go as one message naming every
    # child; the window is what it adds to a guardian's reminder (0: each child's separately).
    # Both off unless the tenant turns them on: an upgrade changes no tenant's timing by itself.
    staff_digest_minutes: int = Field(default=0, ge=0, le=24 * 60)
    family_bundle_seconds: int = Field(default=0, ge=0, le=600)
    # How many messages one recipient gets across every lifecycle, by class (domain/cadence.py).
    cadence: CadencePolicy = Field(default_factory=CadencePolicy)
    channel_costs: dict[Channel, Cost] = Field(default_factory=lambda: dict(DEFAULT_CHANNEL_COSTS))
    # What the cost report charges per message, by channel or channel/provider (domain/costs.py).
    message_prices: MessagePrices = Field(default_factory=MessagePrices)
    # Provider credentials by reference: names of environment variables, never the secrets.
    provider_credentials: dict[Id, Id] = Field(default_factory=dict, max_length=50)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        return check_locale(value)

    @field_validator("reminder_offsets")
    @classmethod
    def _offsets(cls, value: list[timedelta]) -> list[timedelta]:
        if any(offset <= timedelta(0) for offset in value):
            raise ValueError("reminder offsets must be positive durations before the appointment")
        if len(set(value)) != len(value):
            raise ValueError("reminder offsets must be distinct")
        return sorted(value, reverse=True)

    @field_validator("payment_nudge_offsets")
    @classmethod
    def _nudges(cls, value: list[timedelta]) -> list[timedelta]:
        if not value:
            raise ValueError("at least one nudge is needed")
        if any(offset < timedelta(0) for offset in value) or len(set(value)) != len(value):
            raise ValueError("nudge offsets must be distinct durations after the due date")
        return sorted(value)

    @field_validator("recall_ladder")
    @classmethod
    def _ladder(cls, value: list[timedelta]) -> list[timedelta]:
        if any(offset < timedelta(0) for offset in value) or len(set(value)) != len(value):
            raise ValueError("recall invitations must be distinct durations from the due date on")
        return sorted(value)

    @model_validator(mode="after")
    def _chat_steps_in_order(self) -> TenantSettings:
        if self.chat_sms_delay <= self.chat_push_delay:
            raise ValueError("chat_sms_delay must be longer than chat_push_delay")
        return self

    @field_validator(
        "payment_escalation_delay",
        "chat_push_delay",
        "chat_sms_delay",
        "chat_idle_close",
        "early_booking_window",
        "confirmation_sla",
        "feedback_delay",
        "feedback_followup_delay",
        "feedback_window",
        "max_lateness",
        "slot_offer_spacing",
    )
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value
