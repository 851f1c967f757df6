"""SMS segment counting: GSM-7 and UCS-2 limits, single and concatenated."""

from __future__ import annotations

import pytest

from domain.sms import count_sms


@pytest.mark.parametrize(
    ("length", "segments"), [(0, 0), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3)]
)
def test_latin_text_is_gsm7_with_160_then_153_a_part(length: int, segments: int) -> None:
    count = count_sms("a" * length)
    assert (count.encoding, count.units, count.segments) == ("GSM-7", length, segments)


@pytest.mark.parametrize(("length", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3)])
def test_russian_text_is_ucs2_with_70_then_67_a_part(length: int, segments: int) -> None:
    count = count_sms("я" * length)
    assert (count.encoding, count.units, count.segments) == ("UCS-2", length, segments)


def test_one_cyrillic_letter_makes_a_latin_text_ucs2() -> None:
    count = count_sms("a" * 100 + "ж")
    assert count.encoding == "UCS-2" and count.segments == 2 and count.per_segment == 67


def test_gsm7_extension_characters_take_two_septets() -> None:
    assert count_sms("€" * 80).units == 160
    assert count_sms("€" * 80).segments == 1
    assert count_sms("{" * 81).segments == 2


def test_an_emoji_takes_two_ucs2_units() -> None:
    count = count_sms("Hi 👋")
    assert count.encoding == "UCS-2" and count.units == 5


def test_left_in_segment_says_how_much_more_fits() -> None:
    assert count_sms("a" * 150).left_in_segment == 10
    assert count_sms("я" * 71).left_in_segment == 2 * 67 - 71
