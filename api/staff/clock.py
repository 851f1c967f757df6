"""The clinic's clock on console pages: every time shown in the tenant's zone, dates read in it too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from store import Store


@dataclass(frozen=True)
class Clock:
    zone: ZoneInfo

    @property
    def name(self) -> str:
        return self.zone.key

    def local(self, moment: datetime | None, seconds: bool = False) -> str:
        if moment is None:
            return ""
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

    def in_zone(self, moment: datetime | None, zone: str | None) -> str:
        """The same moment on another wall clock (the patient's), or "" when it reads the same."""
        if moment is None or not zone or zone == self.zone.key:
            return ""
        try:
            other = ZoneInfo(zone)
        except (ValueError, KeyError):
            return ""
        if moment.astimezone(other).utcoffset() == moment.astimezone(self.zone).utcoffset():
            return ""
        return f"{moment.astimezone(other).strftime('%H:%M')} {zone}"

    def day_start(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.zone)

    def day_end(self, day: date) -> datetime:
        return self.day_start(day + timedelta(days=1))


async def clinic_clock(store: Store, tenant: str) -> Clock:
    return Clock(ZoneInfo((await store.get_settings(tenant)).timezone))


def parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None
