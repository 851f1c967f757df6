"""Render: renders per second of a typical reminder (visit_reminder) from the compiled template cache."""

from __future__ import annotations

import time
from typing import Any

from bench.report import Report
from i18n import TemplateRenderer, sample_context

CASES = (("ru-RU", "Europe/Moscow"), ("en-GB", "Europe/London"))
CHANNELS = ("sms", "telegram", "email")


def renders_per_second(renderer: TemplateRenderer, locale: str, tz: str, channel: str, count: int) -> float:
    context: dict[str, Any] = dict(sample_context("visit_reminder", locale=locale, timezone=tz))
    renderer.render("visit_reminder", locale=locale, channel=channel, context=context, timezone=tz)
    began = time.perf_counter()
    for _ in range(count):
        renderer.render("visit_reminder", locale=locale, channel=channel, context=context, timezone=tz)
    return count / (time.perf_counter() - began)


async def run(count: int = 2000) -> Report:
    report = Report("render", {"count": count, "template": "visit_reminder"})
    renderer = TemplateRenderer()
    rows: list[list[Any]] = []
    for locale, tz in CASES:
        for channel in CHANNELS:
            rate = renders_per_second(renderer, locale, tz, channel, count)
            rows.append([locale, channel, round(rate), round(1e6 / rate)])
    compiles = renderer.compile_count
    report.add(
        f"Render: visit_reminder x {count} per row, compiled cache warm",
        ["locale", "channel", "renders/s", "us/render"],
        rows,
    )
    report.note(f"{compiles} template fields compiled in all: every timed render came from the cache")
    return report
