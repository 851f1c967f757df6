"""SMS length and segment count: GSM-7 (160 a message, 153 a part) or UCS-2 (70, 67 a part)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# GSM 03.38 basic character set; the extension table's characters take two septets (ESC + char).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

LIMITS: dict[str, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True)
class SmsCount:
    """How a text travels: its encoding, its length in that encoding's units, and the parts it takes."""

    encoding: Literal["GSM-7", "UCS-2"]
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int
    per_segment: int  # the capacity of each part: 160/70 for one part, 153/67 when concatenated

    @property
    def left_in_segment(self) -> int:
        """Units still free in the last part before another one is needed."""
        return self.segments * self.per_segment - self.units


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def count_sms(text: str) -> SmsCount:
    """`count_sms("Привет")` is UCS-2, 6 units, 1 segment; one Cyrillic letter makes the whole text UCS-2."""
    if is_gsm7(text):
        encoding: Literal["GSM-7", "UCS-2"] = "GSM-7"
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
    else:
        encoding = "UCS-2"
        # Characters outside the BMP (emoji) are a surrogate pair: two UCS-2 units.
        units = len(text.encode("utf-16-le")) // 2
    single, part = LIMITS[encoding]
    if units <= single:
        return SmsCount(encoding, units, 1 if units else 0, single)
    return SmsCount(encoding, units, -(-units // part), part)
