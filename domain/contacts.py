"""A recipient of messages: a patient, a parent, a student or a staff member."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from babel import Locale, UnknownLocaleError
from pydantic import BaseModel, Field, field_validator


class Channel(StrEnum):
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    SMS = "sms"
    PUSH = "push"
    WEBPUSH = "webpush"
    EMAIL = "email"
    WEBHOOK = "webhook"
    OUTBOX = "outbox"


def check_timezone(value: str) -> str:
    """An IANA zone name that this machine's tz database knows."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone {value!r}") from exc
    return value


def check_locale(value: str) -> str:
    """A BCP 47 tag Babel has CLDR data for (`ru`, `ru-RU`, `en-GB`)."""
    try:
        Locale.parse(value.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(f"unknown locale {value!r}") from exc
    return value


class Contact(BaseModel):
    id: str = Field(min_length=1, max_length=200)
    name: str = ""
    locale: str = "en"
    timezone: str = "UTC"
    phone: str | None = None
    email: str | None = None
    telegram_chat_id: str | None = None
    whatsapp: bool = False
    push_tokens: list[str] = Field(default_factory=list)
    webpush_subscriptions: list[dict[str, Any]] = Field(default_factory=list)
    preferred_channels: list[Channel] = Field(default_factory=list)
    opted_out: list[str] = Field(default_factory=list)
    # Learned by the engine from provider callbacks, not sent by the backend: when the WhatsApp
    # customer-service window closes, and addresses a provider called dead ("telegram:<chat id>").
    whatsapp_window_until: datetime | None = None
    dead_addresses: list[str] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        return check_locale(value)

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
