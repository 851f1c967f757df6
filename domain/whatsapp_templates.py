"""Which language a WhatsApp template may go out in, given its review status per language.

Meta approves a template per name and language, and can reject, pause or disable one language while
the others stay approved (a provider once had every Turkish template rejected at once). A template
in a language that is not approved is never tried: outside the 24-hour window the message goes as
the approved template in the tenant's fallback language, or WhatsApp is passed over for the next
channel. With no status known for a template at all (never synced, never set by staff) it is tried
as before, in the patient's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class TemplateStatus(StrEnum):
    APPROVED = "approved"
    PENDING = "pending"
    REJECTED = "rejected"
    PAUSED = "paused"


# Meta's `status` of a message template -> ours. Anything that cannot be sent and will not become
# sendable by waiting counts as rejected.
META_STATUS: dict[str, TemplateStatus] = {
    "APPROVED": TemplateStatus.APPROVED,
    "PENDING": TemplateStatus.PENDING,
    "IN_APPEAL": TemplateStatus.PENDING,
    "PAUSED": TemplateStatus.PAUSED,
    "REJECTED": TemplateStatus.REJECTED,
    "DISABLED": TemplateStatus.REJECTED,
    "PENDING_DELETION": TemplateStatus.REJECTED,
    "DELETED": TemplateStatus.REJECTED,
    "ARCHIVED": TemplateStatus.REJECTED,
    "LIMIT_EXCEEDED": TemplateStatus.REJECTED,
}


def meta_status(value: str) -> TemplateStatus:
    return META_STATUS.get(value.upper(), TemplateStatus.REJECTED)


def language_codes(locale: str) -> list[str]:
    """Meta's codes a locale may be approved under, most specific first: `pt-BR` -> pt_BR, pt."""
    full = locale.replace("-", "_")
    primary = full.split("_")[0].lower()
    return [full] if full == primary else [full, primary]


@dataclass(frozen=True)
class TemplateChoice:
    """What to send: `language` (Meta's code) and `locale` (ours, to render in), or None for both
    when no language may go; `reason` for the delivery log; `blocked`, the language whose status
    stopped it (staff hear of it once)."""

    language: str | None
    locale: str | None
    reason: str | None = None
    blocked: str | None = None


def _usable(statuses: Mapping[str, TemplateStatus], locale: str) -> tuple[str, bool]:
    codes = language_codes(locale)
    if not statuses:
        return codes[0], True  # nothing known: tried as always
    for code in codes:
        if code in statuses:
            return code, statuses[code] is TemplateStatus.APPROVED
    return codes[0], False  # known in other languages, not in this one


def choose_language(
    template: str, statuses: Mapping[str, TemplateStatus], locale: str, fallback_locale: str
) -> TemplateChoice:
    """The template language for a patient of `locale`, from its statuses (language code -> status)."""
    code, usable = _usable(statuses, locale)
    if usable:
        return TemplateChoice(code, locale)
    status = statuses.get(code)
    blocked = code if status is not None else None
    why = f"the WhatsApp template {template} in {code} is {status.value if status else 'not approved'}"
    fallback, fallback_usable = _usable(statuses, fallback_locale)
    if fallback_usable and fallback != code:
        return TemplateChoice(fallback, fallback_locale, f"{why}: sent in {fallback} instead", blocked)
    return TemplateChoice(None, None, f"{why} and none in {fallback} is approved", blocked)
