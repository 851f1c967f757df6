"""What the editor refuses on save and what the renderer refuses at send: escapes, syntax, unknown names."""

from __future__ import annotations

import pytest

from i18n import TemplateOverride, TemplateRenderer, TemplateRenderError, sample_context
from i18n.validation import check_variant, whatsapp_parameters

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''['__class__'] }}",
    "{{ recipient|attr('__class__') }}",
    "{{ self._TemplateReference__context }}",
    "{{ self }}",
    "{{ config }}",
    "{{ environment }}",
    "{{ cycler.__init__.__globals__.os.environ }}",
    "{% if false %}{{ range.__self__ }}{% endif %}",
]


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer()


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_escapes_are_refused_on_save(renderer: TemplateRenderer, source: str) -> None:
    check = check_variant(renderer, "visit_reminder", "ru", "sms", {"body": f"Привет\n{source}"})
    assert check.errors and check.preview is None
    assert check.errors[0].line == 2


@pytest.mark.parametrize("source", [s for s in ESCAPES if "if false" not in s and "self }}" not in s])
def test_sandbox_escapes_published_anyway_are_refused_at_render(
    renderer: TemplateRenderer, source: str
) -> None:
    override = TemplateOverride("ru", "sms", {"body": source}, version_id=None)
    context = sample_context("visit_reminder", locale="ru")
    with pytest.raises(TemplateRenderError) as failure:
        renderer.render(
            "visit_reminder",
            locale="ru",
            channel="sms",
            context=context,
            timezone="Europe/Moscow",
            overrides=[override],
        )
    assert "__" not in str(failure.value).split(":", 1)[0]  # the error names the template, not internals


def test_a_syntax_error_is_reported_with_its_line(renderer: TemplateRenderer) -> None:
    check = check_variant(renderer, "visit_reminder", "ru", "sms", {"body": "Строка 1\nСтрока 2\n{% if %}"})
    [error] = check.errors
    assert error.line == 3 and error.message.startswith("syntax error")


def test_unknown_variables_and_attributes_are_named(renderer: TemplateRenderer) -> None:
    unknown = check_variant(renderer, "visit_reminder", "ru", "sms", {"body": "{{ pacient.name }}"})
    assert [e.message for e in unknown.errors] == ["unknown variable 'pacient'"]
    typo = check_variant(renderer, "visit_reminder", "ru", "sms", {"body": "\n{{ appointment.doctr }}"})
    assert typo.errors[0].line == 2 and "doctr" in typo.errors[0].message


def test_sms_preview_counts_ucs2_segments_for_russian_and_gsm7_for_english(
    renderer: TemplateRenderer,
) -> None:
    ru = check_variant(renderer, "visit_reminder", "ru", "sms", {"body": "я" * 71})
    assert ru.sms is not None and (ru.sms["encoding"], ru.sms["segments"], ru.sms["per_segment"]) == (
        "UCS-2",
        2,
        67,
    )
    en = check_variant(renderer, "visit_reminder", "en", "sms", {"body": "a" * 160})
    assert en.sms is not None and (en.sms["encoding"], en.sms["segments"]) == ("GSM-7", 1)


def test_the_preview_can_be_for_another_locale_and_channel(renderer: TemplateRenderer) -> None:
    check = check_variant(
        renderer,
        "visit_reminder",
        "en",
        "sms",
        {"body": "Hi {{ recipient.name }}"},
        preview_locale="en-US",
        preview_channel="push",
    )
    assert (
        check.preview is not None and check.preview.variant == "push" and "AM" in (check.preview.title or "")
    )


def test_whatsapp_parameters_are_the_values_filled_in() -> None:
    assert whatsapp_parameters("Hi {{ recipient.name }}, at {{ appointment.starts_at | time }}.") == 2
    assert whatsapp_parameters("No values") == 0
