"""What messages cost and what moving patients to free channels saved: the cost report's arithmetic.

A price is per message, looked up as `<channel>/<provider>` (`sms/twilio`), then `<channel>` (`sms`,
what the `outbox` provider stands in for), else free. One currency per tenant. Segments of a long
SMS are not counted: a message is one message.

The saving: each message that went on a free channel (Telegram, push, web push) to a contact with a
phone number on record would otherwise have gone by SMS through that number's gateway; it saved
that SMS's price.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from domain.contacts import Channel

Price = Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]
FREE_CHANNELS = frozenset({Channel.TELEGRAM, Channel.PUSH, Channel.WEBPUSH})

# List prices of late 2026 in USD, per message; a tenant sets its own contract's.
DEFAULT_PRICES: dict[str, float] = {
    "sms": 0.0079,  # any gateway without its own line, and the outbox standing in for one
    "sms/twilio": 0.0079,  # Twilio, US long code, one segment (outbound)
    "sms/smsaero": 0.05,  # SMS Aero, Russia, about 4.5 RUB
    "sms/rocketsms": 0.03,  # rocketsms.by, Belarus
    # Meta's per-message rate of a utility template; it depends on the recipient's country, and since
    # 2026-10-01 messages inside the 24-hour window are reported to be charged too.
    "whatsapp": 0.03,
    "telegram": 0.0,
    "push": 0.0,
    "webpush": 0.0,
    "email": 0.0,
    "webhook": 0.0,
    "outbox": 0.0,
}


class MessagePrices(BaseModel):
    """The tenant's price table: per message, by `<channel>` or `<channel>/<provider>`."""

    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    per_message: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES), max_length=100)

    @field_validator("per_message")
    @classmethod
    def _keys(cls, value: dict[str, float]) -> dict[str, float]:
        channels = {channel.value for channel in Channel}
        for key in value:
            channel, _, provider = key.partition("/")
            if channel not in channels or len(key) > 100 or (provider == "" and "/" in key):
                raise ValueError(f"{key!r}: a key is <channel> or <channel>/<provider>")
        return value

    def price(self, channel: str, provider: str | None) -> float:
        found = self.per_message.get(f"{channel}/{provider}")
        return found if found is not None else self.per_message.get(channel, 0.0)


@dataclass(frozen=True)
class SentMessages:
    """How many messages left (sent, delivered or read) on a day of the tenant's calendar, by one
    channel and provider, to contacts whose phone goes to one SMS gateway."""

    day: date
    channel: str
    provider: str
    # Where an SMS to the contact's phone on record would have gone instead; None without a phone.
    sms_gateway: str | None
    count: int = 1


class CostRow(BaseModel):
    day: date
    channel: str
    provider: str
    messages: int
    cost: float


class Saving(BaseModel):
    """Messages that went on a free channel instead of SMS, and those SMS's price."""

    messages: int
    cost: float


class CostReport(BaseModel):
    from_: date = Field(alias="from", serialization_alias="from")
    to: date
    timezone: str
    currency: str
    rows: list[CostRow]
    messages: int
    cost: float
    saving: Saving

    model_config = {"populate_by_name": True}


def cost_report(
    sent: Iterable[SentMessages], prices: MessagePrices, start: date, end: date, timezone: str
) -> CostReport:
    """Rows per day × channel × provider, oldest first; totals; the saving."""
    counts: dict[tuple[date, str, str], tuple[int, float]] = {}
    saved, saved_cost = 0, 0.0
    for group in sent:
        key = (group.day, group.channel, group.provider)
        count, cost = counts.get(key, (0, 0.0))
        counts[key] = (count + group.count, cost + group.count * prices.price(group.channel, group.provider))
        if group.channel in FREE_CHANNELS and group.sms_gateway is not None:
            saved += group.count
            saved_cost += group.count * prices.price(Channel.SMS, group.sms_gateway)
    rows = [
        CostRow(day=day, channel=channel, provider=provider, messages=count, cost=round(cost, 6))
        for (day, channel, provider), (count, cost) in sorted(counts.items())
    ]
    return CostReport(
        from_=start,
        to=end,
        timezone=timezone,
        currency=prices.currency,
        rows=rows,
        messages=sum(row.messages for row in rows),
        cost=round(sum(cost for _, cost in counts.values()), 6),
        saving=Saving(messages=saved, cost=round(saved_cost, 6)),
    )
