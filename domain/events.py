"""The backend's interface: CloudEvent envelopes and the data of every event type in the catalogue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from domain.consent import ConsentCategory, ConsentSource
from domain.contacts import Channel, Contact, check_timezone
from domain.fields import Id, Moment, Name, Text, check_moment, check_text

ViewT = TypeVar("ViewT")


class _Data(BaseModel):
    # Unknown extra fields are kept: backends send more than we need and later versions may use it.
    model_config = ConfigDict(extra="allow")


class Service(_Data):
    code: Id
    name: Name


class Doctor(_Data):
    id: Id
    name: Name


class Location(_Data):
    id: Id
    name: Name
    address: Text = ""
    timezone: str

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_timezone(value)


class Appointment(_Data):
    appointment_id: Id = Field(min_length=1)
    patient: Contact
    starts_at: Moment
    duration_minutes: int = Field(gt=0, le=24 * 60)
    service: Service
    doctor: Doctor
    location: Location


class AppointmentRejected(_Data):
    appointment_id: Id = Field(min_length=1)
    reason: Text = ""


class AppointmentRescheduled(_Data):
    appointment_id: Id = Field(min_length=1)
    starts_at: Moment
    duration_minutes: int = Field(gt=0, le=24 * 60)


class AppointmentCancelled(_Data):
    appointment_id: Id = Field(min_length=1)
    cancelled_by: Literal["patient", "clinic"]
    reason: Text = ""


class AppointmentRef(_Data):
    """`appointment.completed`, `appointment.no_show`, `attendance.confirmed`, `attendance.declined`."""

    appointment_id: Id = Field(min_length=1)


class FeedbackSubmitted(_Data):
    subject_id: Id = Field(min_length=1)
    rating: int = Field(ge=1, le=5)
    comment: Text = ""
    # Which lifecycle the feedback is about; appointments unless a lesson says so.
    subject_kind: Literal["appointment", "lesson"] = "appointment"


class PaymentReported(_Data):
    """`payment.reported`: the payer says it is paid (the "I've paid" button); staff check it.

    Only the backend's `invoice.paid` / `balance.topped_up` settles the payment; this one holds
    the nudges and tells staff.
    """

    subject_id: Id = Field(min_length=1)
    subject_kind: Literal["invoice", "balance"] = "invoice"
    comment: Text = ""


class Teacher(_Data):
    id: Id
    name: Name


class Lesson(_Data):
    lesson_id: Id = Field(min_length=1)
    student: Contact
    guardian: Contact | None = None
    starts_at: Moment
    duration_minutes: int = Field(gt=0, le=24 * 60)
    teacher: Teacher
    trial: bool = False
    join_url: Text = ""


class LessonChange(_Data):
    """`lesson.rescheduled` / `lesson.cancelled` / `lesson.completed`: the id and what changed."""

    lesson_id: Id = Field(min_length=1)
    starts_at: Moment | None = None
    duration_minutes: int | None = Field(default=None, gt=0, le=24 * 60)
    trial: bool | None = None
    reason: Text = ""


class Invoice(_Data):
    invoice_id: Id = Field(min_length=1)
    contact: Contact
    amount: float = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    due_at: Moment
    pay_url: Text


class Balance(_Data):
    account_id: Id = Field(min_length=1)
    contact: Contact
    lessons_left: int = Field(ge=0)
    pay_url: Text


class ChatMessage(_Data):
    conversation_id: Id = Field(min_length=1)
    message_id: Id = Field(min_length=1)
    contact: Contact
    sender_name: Name = ""
    preview: Text = ""


class ContactUpdated(_Data):
    contact: Contact


class ConsentGiven(_Data):
    """`consent.granted` / `consent.revoked`: a record for the ledger (domain/consent.py)."""

    contact_id: Id = Field(min_length=1)
    category: ConsentCategory
    channel: Channel | None = None
    source: ConsentSource = ConsentSource.EVENT
    evidence: dict[str, Any] | Text | None = None
    # The phone, chat or address it was given for; every address of the channel when absent.
    contact_point: Text | None = None


# A template's name as the backend gives it: the folder name under message_templates/.
TemplateName = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_]*$")
]


class Notification(_Data):
    """`notification.requested`: a one-off message (an order's status, a note from a manager).

    `send_at` with an offset is that instant; without one it is a wall-clock time where the
    contact lives (their `timezone`): "09:00" means nine in the morning for them. `data` is what
    the template renders (`{{ data.order_id }}`).
    """

    notification_id: Id = Field(min_length=1)
    contact: Contact
    template: TemplateName
    data: dict[str, Any] = Field(default_factory=dict)
    send_at: Annotated[datetime, AfterValidator(check_moment)] | None = None
    expires_at: Moment | None = None
    category: ConsentCategory


class RecallSet(_Data):
    """`recall.set`: a due date for a patient's recall, imported from the clinic's system."""

    patient: Contact
    recall_type: Id = Field(min_length=1)
    due_at: Moment


class RecallDismissed(_Data):
    """`recall.dismissed`: the clinic stops a patient's recall of this type."""

    patient_id: Id = Field(min_length=1)
    recall_type: Id = Field(min_length=1)


class WaitlistJoined(_Data):
    """`waitlist.joined`: a patient who wants an earlier time, and what it must match (store only)."""

    entry_id: Id = Field(min_length=1)
    patient: Contact
    service_code: Id | None = None
    doctor_id: Id | None = None
    location_id: Id | None = None
    earliest: Moment | None = None
    latest: Moment | None = None


class WaitlistLeft(_Data):
    entry_id: Id = Field(min_length=1)


class SlotFreed(_Data):
    """`slot.freed`: a time that became free, to offer to the waitlist (workflows/slot.py)."""

    slot_id: Id = Field(min_length=1)
    starts_at: Moment
    duration_minutes: int = Field(gt=0, le=24 * 60)
    service: Service
    doctor: Doctor
    location: Location


class SlotRef(_Data):
    """`slot.taken`: the backend filled the slot another way."""

    slot_id: Id = Field(min_length=1)


class SlotAccepted(_Data):
    """`slot.accepted`: a patient said yes to an offer (a button or an SMS reply, api/answers.py)."""

    slot_id: Id = Field(min_length=1)
    # The offer's step (`offer/<entry id>`) and the contact it went to.
    step: Text = ""
    contact_id: Id = ""
    delivery_id: int | None = None


EVENT_DATA: dict[str, type[_Data]] = {
    "appointment.requested": Appointment,
    "appointment.confirmed": Appointment,
    "appointment.rejected": AppointmentRejected,
    "appointment.rescheduled": AppointmentRescheduled,
    "appointment.cancelled": AppointmentCancelled,
    "appointment.completed": AppointmentRef,
    "appointment.no_show": AppointmentRef,
    "attendance.confirmed": AppointmentRef,
    "attendance.declined": AppointmentRef,
    "feedback.submitted": FeedbackSubmitted,
    "payment.reported": PaymentReported,
    "lesson.scheduled": Lesson,
    "lesson.rescheduled": LessonChange,
    "lesson.cancelled": LessonChange,
    "lesson.completed": LessonChange,
    "invoice.issued": Invoice,
    "invoice.paid": Invoice,
    "balance.low": Balance,
    "balance.topped_up": Balance,
    "chat.message_sent": ChatMessage,
    "chat.message_read": ChatMessage,
    "contact.updated": ContactUpdated,
    "consent.granted": ConsentGiven,
    "consent.revoked": ConsentGiven,
    "waitlist.joined": WaitlistJoined,
    "waitlist.left": WaitlistLeft,
    "slot.freed": SlotFreed,
    "slot.taken": SlotRef,
    "slot.accepted": SlotAccepted,
    "recall.set": RecallSet,
    "recall.dismissed": RecallDismissed,
    "notification.requested": Notification,
}


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope with our `tenant` and `sequence` extensions."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"]
    id: Id = Field(min_length=1)
    source: Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(check_text)]
    type: str = Field(min_length=1, max_length=100)
    subject: Id | None = None
    time: Moment | None = None
    datacontenttype: str | None = Field(default=None, max_length=200)
    tenant: Id | None = None
    sequence: int | None = Field(default=None, ge=0, le=2**63 - 1)
    data: dict[str, Any]

    @field_validator("sequence", mode="before")
    @classmethod
    def _sequence(cls, value: object) -> object:
        # Official SDKs send extension values as strings: "7".
        if isinstance(value, str):
            if not value.isdigit():
                raise ValueError("sequence must be an integer or a string of digits")
            return int(value)
        if isinstance(value, bool):
            raise ValueError("sequence must be an integer")
        return value


class DomainEvent(BaseModel):
    """A validated event as a workflow receives it: the envelope's identity plus its flat data."""

    id: str
    source: str
    type: str
    tenant: str
    sequence: int | None = None
    time: datetime | None = None
    received_at: datetime
    data: dict[str, Any] = Field(default_factory=dict)

    def parsed(self) -> _Data:
        return EVENT_DATA[self.type].model_validate(self.data)


def fold_into(view: ViewT, events: list[DomainEvent], apply: Callable[[ViewT, DomainEvent], None]) -> ViewT:
    """Apply each event once, in `sequence` order: what every lifecycle's state is made of."""
    seen: set[str] = set()
    for event in ordered(events):
        if event.id not in seen:
            seen.add(event.id)
            apply(view, event)
    return view


def ordered(events: list[DomainEvent]) -> list[DomainEvent]:
    """Sequenced events by `sequence`, then unsequenced ones in arrival order."""
    indexed = list(enumerate(events))
    indexed.sort(key=lambda pair: (pair[1].sequence is None, pair[1].sequence or 0, pair[0]))
    return [event for _, event in indexed]
