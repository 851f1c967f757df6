"""German is data only: a `de.toml` beside every template, rendered whole on every channel."""

from __future__ import annotations

import pytest

from i18n import TEMPLATE_KEYS, TemplateRenderer, sample_context

# Every key the lifecycles send (each has sample data): adding a language is adding these files.
KEYS = sorted(TEMPLATE_KEYS)


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer()


@pytest.mark.parametrize("channel", ["default", "sms", "email", "push", "telegram"])
@pytest.mark.parametrize("key", KEYS)
def test_every_template_speaks_german_on_every_channel(
    renderer: TemplateRenderer, key: str, channel: str
) -> None:
    assert "de" in renderer.available()[key], f"{key} has no de.toml"
    context = sample_context(key, locale="de-DE", timezone="Europe/Berlin")
    message = renderer.render(key, locale="de-DE", channel=channel, context=context, timezone="Europe/Berlin")
    assert message.locale == "de"
    assert message.body.strip() and not any(mark in message.body for mark in ("{{", "{%"))


def test_a_german_reminder_reads_as_german_time(renderer: TemplateRenderer) -> None:
    context = sample_context("visit_reminder", locale="de", timezone="Europe/Berlin")
    message = renderer.render(
        "visit_reminder", locale="de", channel="sms", context=context, timezone="Europe/Berlin"
    )
    assert "morgen um 10:00 Uhr" in message.body
