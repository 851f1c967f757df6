"""Messages that go together: a staff digest, and one reminder to a guardian for several children.

A message that belongs to a bundle is held (its delivery row stays `planned`, its reason says so)
and named to the bundle's workflow (`workflows/bundle.py`). When the bundle's window closes, one
held message goes out as itself; two or more go as one message listing them, and each held row is
recorded `skipped` with the delivery that carried it.

- Staff digest (`staff_digest_minutes`, 0 = off): every non-urgent staff message to one staff
  member within N minutes of the first becomes one digest. Urgent ones go at once.
- Family (`family_bundle_seconds`, 0 = off): lesson reminders to one guardian due at the same
  moment (two children's lessons at 15:00) become one reminder naming every child. The window is
  the lateness it costs a guardian's reminder, so it is short.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from domain.planning import PlannedMessage
from domain.settings import TenantSettings

# The template that carries a bundle of two or more messages, by kind.
BUNDLE_TEMPLATES = {"staff": "staff_digest", "family": "lesson_reminder_family"}
FAMILY_TEMPLATES = frozenset({"lesson_reminder"})


@dataclass(frozen=True)
class Bundle:
    kind: str
    key: str
    window: timedelta

    @property
    def template(self) -> str:
        return BUNDLE_TEMPLATES[self.kind]

    def workflow_id(self, tenant: str) -> str:
        # Only a hash of the key in the id: the key names a contact.
        return f"bundle:{tenant}:{hashlib.sha256(self.key.encode()).hexdigest()[:24]}"


def bundle_of(message: PlannedMessage, settings: TenantSettings) -> Bundle | None:
    """The bundle this message waits for, or None when it goes by itself."""
    if message.audience == "staff" and not message.facts.urgent and settings.staff_digest_minutes:
        return Bundle(
            "staff", f"staff:{message.recipient.id}", timedelta(minutes=settings.staff_digest_minutes)
        )
    if (
        message.audience == "guardian"
        and message.template in FAMILY_TEMPLATES
        and settings.family_bundle_seconds
    ):
        key = f"family:{message.recipient.id}:{message.template}:{message.send_at.isoformat()}"
        return Bundle("family", key, timedelta(seconds=settings.family_bundle_seconds))
    return None
