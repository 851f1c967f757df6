"""Babel formatting in the recipient's locale and timezone: times, days, durations, plurals, money."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from i18n import formatting
from i18n.locales import locale_chain, normalize_tag

MOSCOW = "Europe/Moscow"
HOURS_RU = {"one": "час", "few": "часа", "many": "часов", "other": "часа"}


def test_time_is_24_hour_in_russian_and_british_and_12_hour_in_american_english() -> None:
    moment = datetime(2025, 11, 24, 7, 0, tzinfo=UTC)  # 10:00 in Moscow, 07:00 in London
    assert formatting.format_time(moment, "ru-RU", MOSCOW) == "10:00"
    assert formatting.format_time(moment, "en-GB", "Europe/London") == "07:00"
    assert formatting.format_time(moment, "en-US", MOSCOW).replace("\u202f", " ") == "10:00 AM"
    assert formatting.format_time(moment, "de", "Europe/Berlin") == "08:00"


def test_a_utc_instant_is_shown_on_the_recipients_wall_clock() -> None:
    moment = datetime(2025, 11, 23, 22, 30, tzinfo=UTC)  # already the 24th in Moscow
    assert formatting.format_date(moment, "ru", MOSCOW, "MMMMd") == "24 ноября"
    assert formatting.format_date(moment, "en", "America/New_York", "MMMMd") == "November 23"
    assert formatting.format_weekday(moment, "ru", MOSCOW) == "понедельник"
    assert formatting.format_weekday(moment, "en", "America/New_York") == "Sunday"


def test_local_time_is_right_on_both_sides_of_the_berlin_spring_dst_change() -> None:
    before = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 01:30 CET
    after = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST: 02:00-03:00 never happened
    assert formatting.format_time(before, "de", "Europe/Berlin") == "01:30"
    assert formatting.format_time(after, "de", "Europe/Berlin") == "03:30"
    assert formatting.format_datetime(after, "en-GB", "Europe/Berlin", "short") == "29/03/2026, 03:30"


def test_naive_datetimes_are_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="naive"):
        formatting.format_time(datetime(2025, 11, 24, 10, 0), "ru", MOSCOW)


def test_a_plain_date_is_formatted_without_a_timezone_shift() -> None:
    assert formatting.format_date(date(2025, 11, 24), "ru", "Pacific/Kiritimati", "MMMMd") == "24 ноября"


@pytest.mark.parametrize(
    ("days_ahead", "locale", "expected"),
    [
        (0, "ru", "сегодня"),
        (1, "ru", "завтра"),
        (2, "ru", "послезавтра"),
        (1, "en-US", "tomorrow"),
        (0, "en", "today"),
        (-1, "en", "yesterday"),
        (1, "de", "morgen"),
        (5, "ru", "29 ноября"),
        (2, "en", "November 26"),
    ],
)
def test_relative_day_names_the_local_calendar_day(days_ahead: int, locale: str, expected: str) -> None:
    zone = ZoneInfo(MOSCOW)
    now = datetime(2025, 11, 24, 9, 0, tzinfo=zone)
    visit = datetime(2025, 11, 24, 18, 0, tzinfo=zone) + timedelta(days=days_ahead)
    assert formatting.format_relative_day(visit, now, locale, MOSCOW) == expected


def test_relative_day_counts_calendar_days_not_24_hour_spans() -> None:
    zone = ZoneInfo(MOSCOW)
    late_evening = datetime(2025, 11, 23, 23, 40, tzinfo=zone)
    early_morning = datetime(2025, 11, 24, 8, 0, tzinfo=zone)  # only 8 h 20 min later
    assert formatting.format_relative_day(early_morning, late_evening, "ru", MOSCOW) == "завтра"


def test_relative_day_with_date_keeps_the_date_after_the_word() -> None:
    zone = ZoneInfo(MOSCOW)
    now = datetime(2025, 11, 23, 10, 0, tzinfo=zone)
    tomorrow = datetime(2025, 11, 24, 10, 0, tzinfo=zone)
    assert formatting.format_relative_day(tomorrow, now, "ru", MOSCOW, with_date=True) == "завтра, 24 ноября"


def test_a_language_without_relative_day_words_gets_the_date() -> None:
    zone = ZoneInfo("Asia/Tokyo")
    now = datetime(2025, 11, 23, 10, 0, tzinfo=zone)
    assert formatting.format_relative_day(now + timedelta(days=1), now, "ja", "Asia/Tokyo") == "11月24日"


def test_durations_read_naturally_with_and_without_direction() -> None:
    assert formatting.format_timedelta(timedelta(hours=2), "ru", add_direction=True) == "через 2 часа"
    assert formatting.format_timedelta(timedelta(hours=2), "en", add_direction=True) == "in 2 hours"
    assert formatting.format_timedelta(timedelta(minutes=45), "ru") == "45 минут"
    assert formatting.format_timedelta(timedelta(minutes=1), "en") == "1 minute"


@pytest.mark.parametrize(("n", "word"), [(1, "час"), (2, "часа"), (5, "часов"), (21, "час"), (11, "часов")])
def test_russian_plurals_follow_cldr_categories(n: int, word: str) -> None:
    assert formatting.pluralize(n, "ru-RU", HOURS_RU) == word


def test_english_plurals_use_one_and_other() -> None:
    forms = {"one": "hour", "other": "hours"}
    assert [formatting.pluralize(n, "en", forms) for n in (1, 2, 21)] == ["hour", "hours", "hours"]


def test_a_missing_plural_category_falls_back_to_other_and_without_other_fails() -> None:
    assert formatting.pluralize(5, "ru", {"one": "час", "other": "ч."}) == "ч."
    with pytest.raises(ValueError, match="other"):
        formatting.pluralize(5, "ru", {"one": "час"})


def test_currency_follows_the_locale() -> None:
    assert formatting.format_currency(Decimal("1500"), "RUB", "ru") == "1\xa0500,00\xa0₽"
    assert formatting.format_currency(1500, "USD", "en-US") == "$1,500.00"


def test_locale_tags_are_normalised_and_chained_to_the_tenant_default() -> None:
    assert normalize_tag("ru_ru") == "ru-RU"
    assert normalize_tag("zh_hant_tw") == "zh-Hant-TW"
    assert locale_chain("ru-RU", "en") == ["ru-RU", "ru", "en"]
    assert locale_chain("fr", "en-GB") == ["fr", "en-GB", "en"]
    assert locale_chain("en-US", "en") == ["en-US", "en"]
    with pytest.raises(ValueError):
        normalize_tag("../../etc/passwd")


def test_the_autumn_dst_change_keeps_wall_clock_times_and_calendar_days() -> None:
    # New York falls back on 2 November 2025 at 02:00: a visit at 10:00 that day is 15:00 UTC, not 14:00.
    visit = datetime(2025, 11, 2, 15, 0, tzinfo=UTC)
    day_before = datetime(2025, 11, 1, 14, 0, tzinfo=UTC)  # 10:00 EDT, 25 hours earlier
    assert formatting.format_time(visit, "en-US", "America/New_York").replace("\u202f", " ") == "10:00 AM"
    assert formatting.format_time(visit, "ru", "America/New_York") == "10:00"
    assert formatting.format_relative_day(visit, day_before, "en-US", "America/New_York") == "tomorrow"
    assert formatting.format_relative_day(visit, day_before, "ru", "America/New_York") == "завтра"


@pytest.mark.parametrize(
    ("hours", "ru", "en"), [(1, "1 час", "1 hour"), (2, "2 часа", "2 hours"), (5, "5 часов", "5 hours")]
)
def test_durations_in_hours_take_the_cldr_plural_form(hours: int, ru: str, en: str) -> None:
    assert formatting.format_timedelta(timedelta(hours=hours), "ru") == ru
    assert formatting.format_timedelta(timedelta(hours=hours), "en") == en
