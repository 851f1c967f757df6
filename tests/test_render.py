"""The renderer: every lifecycle message in every language and channel, fallbacks, the sandbox, the cache."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from i18n import (
    TEMPLATE_KEYS,
    RenderedMessage,
    TemplateNotFound,
    TemplateRenderer,
    TemplateRenderError,
    sample_context,
)

CHANNELS = ("default", "sms", "email", "push")
ZONES = {"ru": "Europe/Moscow", "en": "Europe/London"}
RAW_IDS = ("apt-20251124-0017", "doc-14", "dental-consultation")


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer()


def render(
    renderer: TemplateRenderer, key: str, locale: str, channel: str, tz: str, **overrides: Any
) -> RenderedMessage:
    context = sample_context(key, locale=locale, timezone=tz, **overrides)
    return renderer.render(key, locale=locale, channel=channel, context=context, timezone=tz)


def texts(message: RenderedMessage) -> list[str]:
    return [t for t in (message.subject, message.title, message.body, message.html) if t] + message.buttons


def write_template(root: Path, key: str, locale: str, toml: str) -> Path:
    path = root / key / f"{locale}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(toml, encoding="utf-8")
    return path


def body_template(source: str) -> str:
    return f"[default]\nbody = '''\n{source}\n'''\n"


# --- every message, every language, every channel ---------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("locale", ["ru", "en"])
@pytest.mark.parametrize("key", TEMPLATE_KEYS)
def test_every_lifecycle_message_renders_whole_in_each_language_and_channel(
    renderer: TemplateRenderer, key: str, locale: str, channel: str
) -> None:
    message = render(renderer, key, locale, channel, ZONES[locale])

    assert message.locale == locale
    assert message.variant == channel
    assert message.body.strip()
    for text in texts(message):
        assert not any(mark in text for mark in ("{{", "}}", "{%", "%}"))
        assert not any(raw in text for raw in RAW_IDS), "a raw id leaked into a message"
    if channel == "email":
        assert message.subject and message.html and "\n" not in message.subject
    if channel == "push":
        assert message.title


def test_the_sample_russian_sms_fit_in_two_ucs2_segments(renderer: TemplateRenderer) -> None:
    for key in TEMPLATE_KEYS:
        body = render(renderer, key, "ru", "sms", "Europe/Moscow").body
        assert len(body) <= 2 * 67, f"{key}: {len(body)} characters: {body}"


def test_the_attendance_buttons_come_with_the_reminder_in_each_language(renderer: TemplateRenderer) -> None:
    assert render(renderer, "visit_reminder", "ru", "telegram", "Europe/Moscow").buttons == [
        "Приду",
        "Не смогу прийти",
    ]
    assert render(renderer, "visit_reminder", "en", "telegram", "Europe/London").buttons == [
        "I'll come",
        "I can't come",
    ]
    assert "1" in render(renderer, "visit_reminder", "ru", "sms", "Europe/Moscow").body


# --- dates and times as the recipient reads them ----------------------------------------------


def test_russian_reminder_the_day_before_says_tomorrow_at_ten(renderer: TemplateRenderer) -> None:
    zone = ZoneInfo("Europe/Moscow")
    message = render(
        renderer,
        "visit_reminder",
        "ru-RU",
        "telegram",
        "Europe/Moscow",
        now=datetime(2025, 11, 23, 10, 0, tzinfo=zone),
        starts_at=datetime(2025, 11, 24, 7, 0, tzinfo=ZoneInfo("UTC")),  # 10:00 in Moscow
    )
    assert "завтра, 24 ноября, в 10:00" in message.body


def test_reminder_two_hours_before_says_in_two_hours(renderer: TemplateRenderer) -> None:
    start = datetime(2025, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))
    now = start - timedelta(hours=2)
    ru = render(renderer, "visit_reminder", "ru", "sms", "Europe/Moscow", starts_at=start, now=now)
    en = render(renderer, "visit_reminder", "en", "push", "Europe/Moscow", starts_at=start, now=now)
    assert "через 2 часа, в 10:00" in ru.body
    assert en.title == "Appointment in 2 hours, at 10:00 AM"


def test_american_english_shows_12_hour_time(renderer: TemplateRenderer) -> None:
    message = render(renderer, "visit_reminder", "en-US", "telegram", "America/New_York")
    assert message.locale == "en"
    assert "tomorrow, November 24, at 10:00\u202fAM" in message.body


def test_sms_replaces_babels_narrow_spaces_so_english_stays_gsm7(renderer: TemplateRenderer) -> None:
    message = render(renderer, "visit_reminder", "en-US", "sms", "America/New_York")
    assert "10:00 AM" in message.body
    assert "\u202f" not in message.body and "\xa0" not in message.body


def test_a_visit_after_the_berlin_dst_change_shows_its_local_time(renderer: TemplateRenderer) -> None:
    start = datetime(2026, 3, 29, 8, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 CEST, the first summer day
    now = datetime(2026, 3, 28, 9, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 CET the day before
    message = render(renderer, "visit_reminder", "de-DE", "email", "Europe/Berlin", starts_at=start, now=now)
    assert message.locale == "de"
    assert message.subject == "Erinnerung: Ihr Termin morgen um 10:00 Uhr"
    assert "morgen, 29. März (Sonntag), um 10:00 Uhr" in message.body


def test_plural_filter_picks_the_russian_form(tmp_path: Path) -> None:
    source = '{{ n | plural(one="час", few="часа", many="часов", other="часа") }}'
    write_template(tmp_path, "hours", "ru", body_template(source))
    renderer = TemplateRenderer(tmp_path)
    rendered = [
        renderer.render("hours", locale="ru", channel="sms", context={"n": n}, timezone="UTC").body
        for n in (1, 2, 5, 21)
    ]
    assert rendered == ["1 час", "2 часа", "5 часов", "21 час"]


# --- fallbacks ---------------------------------------------------------------------------------


def test_a_regional_locale_falls_back_to_its_language(renderer: TemplateRenderer) -> None:
    message = render(renderer, "appointment_confirmed", "ru-RU", "email", "Europe/Moscow")
    assert message.locale == "ru"
    assert message.subject == "Запись подтверждена: 24 ноября в 10:00"


def test_an_unknown_language_falls_back_to_the_tenant_default(renderer: TemplateRenderer) -> None:
    context = sample_context("booking_received", locale="fr", timezone="Europe/Paris")
    english = renderer.render(
        "booking_received", locale="fr", channel="sms", context=context, timezone="Europe/Paris"
    )
    russian = renderer.render(
        "booking_received",
        locale="fr",
        channel="sms",
        context=context,
        timezone="Europe/Paris",
        default_locale="ru",
    )
    assert (english.locale, russian.locale) == ("en", "ru")
    assert "demain" not in english.body and "tomorrow" in english.body


def test_german_is_only_data_and_other_keys_fall_back(renderer: TemplateRenderer) -> None:
    reminder = render(renderer, "visit_reminder", "de", "telegram", "Europe/Berlin")
    booking = render(renderer, "booking_received", "fr", "telegram", "Europe/Paris")  # no fr.toml
    assert reminder.locale == "de" and reminder.buttons == ["Ich komme", "Ich kann nicht kommen"]
    assert "morgen" in reminder.body
    assert booking.locale == "en" and "tomorrow" in booking.body


def test_a_channel_without_its_own_table_uses_the_default_variant(renderer: TemplateRenderer) -> None:
    message = render(renderer, "visit_reminder", "ru", "whatsapp", "Europe/Moscow")
    assert message.variant == "default"


def test_an_unknown_key_or_a_path_is_not_found(renderer: TemplateRenderer) -> None:
    for key in ("no_such_message", "../visit_reminder", "visit_reminder/ru"):
        with pytest.raises(TemplateNotFound):
            renderer.render(key, locale="ru", channel="sms", context={}, timezone="UTC")


def test_available_lists_keys_and_their_locales(renderer: TemplateRenderer) -> None:
    available = renderer.available()
    assert set(available) == set(TEMPLATE_KEYS)
    assert available["visit_reminder"] == ["de", "en", "ru"]
    assert all(locales == ["de", "en", "ru"] for locales in available.values())


# --- wording that depends on the context ------------------------------------------------------


def test_cancellation_wording_depends_on_who_cancelled(renderer: TemplateRenderer) -> None:
    by_clinic = render(renderer, "appointment_cancelled", "ru", "sms", "Europe/Moscow")
    by_patient = render(
        renderer, "appointment_cancelled", "ru", "sms", "Europe/Moscow", cancelled_by="patient", reason=""
    )
    assert "Приносим извинения" in by_clinic.body and "врач заболел" in by_clinic.body
    assert "Приносим извинения" not in by_patient.body and "отменена" in by_patient.body


def test_an_urgent_booking_is_flagged_first_to_staff(renderer: TemplateRenderer) -> None:
    urgent = render(renderer, "staff_booking_to_confirm", "ru", "telegram", "Europe/Moscow")
    calm = render(renderer, "staff_booking_to_confirm", "ru", "email", "Europe/Moscow", urgent=False)
    assert urgent.body.startswith("❗ СРОЧНО")
    assert calm.subject is not None and calm.subject.startswith("Запись ждёт подтверждения")
    assert "СРОЧНО" not in calm.body


def test_html_escapes_context_values_and_text_fields_do_not(renderer: TemplateRenderer) -> None:
    message = render(
        renderer, "staff_low_rating", "en", "email", "Europe/London", comment="<script>x()</script> & co"
    )
    assert message.html is not None and "&lt;script&gt;x()&lt;/script&gt; &amp; co" in message.html
    assert "<script>x()</script> & co" in message.body


# --- the sandbox and failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ config }}",
        "{{ recipient.__class__.__subclasses__() }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ recipient.clear() }}",
        "{{ 'x' * 100000000 }}",
        "{{ 9 ** 999999 }}",
        "{{ range(10000000) | list }}",
        "{{ '{0.__class__}'.format(recipient) }}",
    ],
)
def test_sandbox_escapes_and_resource_bombs_are_refused(tmp_path: Path, source: str) -> None:
    write_template(tmp_path, "evil", "en", body_template(f"Hello\n{source}"))
    renderer = TemplateRenderer(tmp_path)
    with pytest.raises(TemplateRenderError) as caught:
        renderer.render(
            "evil", locale="en", channel="sms", context={"recipient": {"name": "x"}}, timezone="UTC"
        )
    assert caught.value.line == 2
    assert "Traceback" not in str(caught.value)


def test_a_syntax_error_reports_its_line(tmp_path: Path) -> None:
    write_template(tmp_path, "broken", "en", body_template("Hello\n\n{{ recipient.name recipient }}"))
    renderer = TemplateRenderer(tmp_path)
    with pytest.raises(TemplateRenderError) as caught:
        renderer.render("broken", locale="en", channel="push", context={}, timezone="UTC")
    error = caught.value
    assert (error.template, error.locale, error.variant, error.line) == ("broken", "en", "default", 3)
    assert "syntax error" in str(error) and "line 3" in str(error)


def test_an_undefined_variable_fails_the_whole_message(tmp_path: Path) -> None:
    toml = (
        "[email]\nsubject = 'Hi {{ recipient.name }}'\nbody = 'Fine'\n"
        "html = '''\n<p>Hi</p>\n<p>{{ appointment.starts_at }}</p>\n'''\n"
    )
    write_template(tmp_path, "partial", "en", toml)
    renderer = TemplateRenderer(tmp_path)
    with pytest.raises(TemplateRenderError) as caught:
        renderer.render(
            "partial", locale="en", channel="email", context={"recipient": {"name": "A"}}, timezone="UTC"
        )
    assert caught.value.line == 2
    assert "'appointment' is undefined" in str(caught.value)


def test_output_that_still_looks_like_template_code_is_refused(tmp_path: Path) -> None:
    write_template(tmp_path, "leak", "en", body_template("Hi {% raw %}{{ name }}{% endraw %}"))
    renderer = TemplateRenderer(tmp_path)
    with pytest.raises(TemplateRenderError, match="still contains"):
        renderer.render("leak", locale="en", channel="sms", context={}, timezone="UTC")


def test_a_malformed_file_is_reported_not_crashed_on(tmp_path: Path) -> None:
    write_template(tmp_path, "bad_toml", "en", "[default]\nbody = 'unterminated\n")
    write_template(tmp_path, "typo", "en", "[default]\nbody = 'x'\nsubjet = 'y'\n")
    write_template(tmp_path, "no_body", "en", "[default]\ntitle = 'x'\n")
    renderer = TemplateRenderer(tmp_path)
    for key, expected in (("bad_toml", "TOML"), ("typo", "subjet"), ("no_body", "body")):
        with pytest.raises(TemplateRenderError, match=expected):
            renderer.render(key, locale="en", channel="sms", context={}, timezone="UTC")


# --- the compile cache -------------------------------------------------------------------------


def test_templates_compile_once_and_a_changed_file_is_picked_up(tmp_path: Path) -> None:
    path = write_template(tmp_path, "hello", "en", body_template("Hello {{ recipient.name }}"))
    renderer = TemplateRenderer(tmp_path)
    context = {"recipient": {"name": "Anna"}}

    first = renderer.render("hello", locale="en", channel="sms", context=context, timezone="UTC")
    compiled = renderer.compile_count
    second = renderer.render("hello", locale="en", channel="sms", context=context, timezone="UTC")
    assert first.body == second.body == "Hello Anna"
    assert compiled == 1 and renderer.compile_count == compiled

    path.write_text(body_template("Good morning {{ recipient.name }}"), encoding="utf-8")
    later = path.stat().st_mtime + 5
    os.utime(path, (later, later))
    third = renderer.render("hello", locale="en", channel="sms", context=context, timezone="UTC")
    assert third.body == "Good morning Anna"
    assert renderer.compile_count == 2
