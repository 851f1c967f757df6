"""Waitlist offers, the pure part: which entries a freed slot suits, and when offering must stop."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel

from domain.contacts import Contact
from domain.events import SlotFreed

OFFER_TEMPLATE = "slot_offer"
CLAIMED_TEMPLATE = "slot_claimed"
TAKEN_TEMPLATE = "slot_already_taken"


class WaitlistEntry(BaseModel):
    """A patient waiting for an earlier time, with what the time must match (None: anything)."""

    entry_id: str
    patient_id: str
    service_code: str | None = None
    doctor_id: str | None = None
    location_id: str | None = None
    earliest: datetime | None = None
    latest: datetime | None = None
    joined_at: datetime


class Offer(BaseModel):
    """One entry a batch offers the slot to: the step its message is recorded under."""

    entry_id: str
    contact: Contact

    @property
    def step(self) -> str:
        return offer_step(self.entry_id)


def offer_step(entry_id: str) -> str:
    return f"offer/{entry_id}"


def entry_of(step: str) -> str | None:
    """The entry an offer's step names (`offer/<entry id>`), None for any other step."""
    kind, _, entry_id = step.partition("/")
    return entry_id if kind == "offer" and entry_id else None


def suits(entry: WaitlistEntry, slot: SlotFreed) -> bool:
    """Service, doctor and location as the entry asked (or any), and the slot inside its window."""
    ends_at = slot.starts_at + timedelta(minutes=slot.duration_minutes)
    return (
        entry.service_code in (None, slot.service.code)
        and entry.doctor_id in (None, slot.doctor.id)
        and entry.location_id in (None, slot.location.id)
        and (entry.earliest is None or entry.earliest <= slot.starts_at)
        and (entry.latest is None or ends_at <= entry.latest)
    )


def in_turn(entries: list[WaitlistEntry], slot: SlotFreed) -> list[WaitlistEntry]:
    """The entries the slot suits, oldest first: who waited longest is asked first."""
    return sorted((e for e in entries if suits(e, slot)), key=lambda e: (e.joined_at, e.entry_id))


def offers_end(starts_at: datetime, cutoff: timedelta) -> datetime:
    """No offer goes at or after this moment: nobody can rearrange their day that fast."""
    return starts_at - cutoff
