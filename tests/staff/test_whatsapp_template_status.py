"""The console's template list shows each WhatsApp template's review status per language."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from domain.whatsapp_templates import TemplateStatus
from store import Store
from store.whatsapp_templates import TemplateStatusRecord, WhatsAppTemplates
from tests.staff.test_template_list import about, browser

__all__ = ["browser"]


async def test_the_template_list_shows_the_whatsapp_status_of_each_language(
    browser: httpx.AsyncClient, store: Store
) -> None:
    now = datetime.now(UTC)
    await WhatsAppTemplates(store.engine).put(
        "demo",
        [
            TemplateStatusRecord(
                template="visit_reminder",
                language="en",
                status=TemplateStatus.APPROVED,
                source="sync",
                updated_at=now,
            ),
            TemplateStatusRecord(
                template="visit_reminder",
                language="tr",
                status=TemplateStatus.REJECTED,
                reason="INVALID_FORMAT",
                source="sync",
                updated_at=now,
            ),
        ],
    )
    html = (await browser.get("/staff/templates")).text
    row = about(html, "visit_reminder")
    assert 'data-language="en" data-status="approved"' in row
    assert 'data-language="tr" data-status="rejected"' in row and "tr rejected (INVALID_FORMAT)" in row
    assert "data-whatsapp" not in about(html, "feedback_request")  # nothing known: nothing shown
