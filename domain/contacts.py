"""A recipient of messages: a patient, a parent, a student or a staff member."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from babel import Locale, UnknownLocaleError
from pydantic import AfterValidator, BaseModel, Field, StringConstraints, field_validator

from domain.fields import Id, Name, check_text, json_problems


class Channel(StrEnum):
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    SMS = "sms"
    PUSH = "push"
    WEBPUSH = "webpush"
    EMAIL = "email"
    WEBHOOK = "webhook"
    OUTBOX = "outbox"


# BCP 47 as far as messages need it: language, optional script, optional region (`zh-Hans-CN`).
LOCALE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?")
NOT_LANGUAGES = frozenset({"root", "und"})
# The longest IANA name is 32 characters (America/Argentina/ComodRivadavia).
ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")
MAX_TIMEZONE = 64
# Files in the tz database that are not zones.
NOT_ZONES = frozenset({"Factory", "localtime", "posixrules"})


def check_timezone(value: str) -> str:
    """An IANA zone name that this machine's tz database knows."""
    if len(value) > MAX_TIMEZONE or not ZONE_NAME.fullmatch(value) or value in NOT_ZONES:
        raise ValueError(f"unknown IANA timezone {value[:MAX_TIMEZONE]!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown IANA timezone {value!r}") from exc
    return value


def check_locale(value: str) -> str:
    """A BCP 47 tag Babel has CLDR data for (`ru`, `ru-RU`, `en-GB`); not `root`, not a POSIX name."""
    if not LOCALE_TAG.fullmatch(value) or value.split("-")[0].lower() in NOT_LANGUAGES:
        raise ValueError(f"not a BCP 47 language tag like 'ru' or 'ru-RU': {value[:40]!r}")
    try:
        Locale.parse(value.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(f"unknown locale {value!r}") from exc
    return value


# An address or a token of one channel: a phone, an e-mail, a chat id, a push token, a category.
Address = Annotated[str, StringConstraints(max_length=1000), AfterValidator(check_text)]


class Contact(BaseModel):
    id: Id = Field(min_length=1)
    name: Name = ""
    locale: str = "en"
    timezone: str = "UTC"
    phone: str | None = Field(default=None, max_length=32)
    email: Address | None = None
    telegram_chat_id: Address | None = None
    whatsapp: bool = False
    push_tokens: list[Address] = Field(default_factory=list, max_length=20)
    webpush_subscriptions: list[dict[str, Any]] = Field(default_factory=list, max_length=20)
    preferred_channels: list[Channel] = Field(default_factory=list, max_length=len(Channel))
    opted_out: list[Address] = Field(default_factory=list, max_length=50)
    # Learned by the engine from provider callbacks, not sent by the backend: when the WhatsApp
    # customer-service window closes, and addresses a provider called dead ("telegram:<chat id>").
    whatsapp_window_until: datetime | None = None
    dead_addresses: list[str] = Field(default_factory=list)
    # Learned from the consent ledger: `channel:category` pairs (the router's categories) revoked.
    consent_revoked: list[str] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        return check_locale(value)

    @field_validator("webpush_subscriptions")
    @classmethod
    def _subscriptions(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        problems = json_problems(value)
        if problems:
            raise ValueError("; ".join(f"{where}: {message}" for where, message in problems[:5]))
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("+"):
            raise ValueError("phone must be E.164, starting with '+' and the country code")
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"phone is not a valid E.164 number: {exc}") from exc
        if not phonenumbers.is_possible_number(number):
            raise ValueError("phone is not a possible number for its country")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
