"""WhatsApp template statuses per tenant, template and language, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.whatsapp_templates import TemplateStatus
from store import Store
from store.whatsapp_templates import TemplateStatusRecord, WhatsAppTemplates

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)


def record(
    language: str, status: TemplateStatus, source: str = "sync", reason: str | None = None
) -> TemplateStatusRecord:
    return TemplateStatusRecord(
        template="visit_reminder",
        language=language,
        status=status,
        reason=reason,
        source=source,
        updated_at=T0,
    )


async def test_statuses_are_kept_per_tenant_and_language_and_a_change_is_recorded(store: Store) -> None:
    templates = WhatsAppTemplates(store.engine)
    assert (
        await templates.put(
            "t-1", [record("en", TemplateStatus.APPROVED), record("tr", TemplateStatus.REJECTED)]
        )
        == 2
    )
    assert await templates.put("t-2", [record("tr", TemplateStatus.APPROVED)]) == 1
    assert await templates.put("t-1", [record("en", TemplateStatus.APPROVED)]) == 0  # nothing new

    assert await templates.statuses("t-1", "visit_reminder") == {
        "en": TemplateStatus.APPROVED,
        "tr": TemplateStatus.REJECTED,
    }
    assert await templates.statuses("t-2", "visit_reminder") == {"tr": TemplateStatus.APPROVED}
    assert await templates.statuses("t-1", "feedback_request") == {}

    await templates.put("t-1", [record("tr", TemplateStatus.APPROVED, source="staff", reason="appealed")])
    [_, turkish] = await templates.list("t-1")
    assert (turkish.status, turkish.source, turkish.reason) == (TemplateStatus.APPROVED, "staff", "appealed")


async def test_staff_are_told_once_per_template_and_language_and_again_after_a_new_status(
    store: Store,
) -> None:
    templates = WhatsAppTemplates(store.engine)
    await templates.put("t-1", [record("tr", TemplateStatus.REJECTED), record("en", TemplateStatus.APPROVED)])

    assert await templates.claim_staff_notice("t-1", "visit_reminder", "tr") is True
    assert await templates.claim_staff_notice("t-1", "visit_reminder", "tr") is False
    assert await templates.claim_staff_notice("t-1", "visit_reminder", "en") is False  # approved: no news
    assert await templates.claim_staff_notice("t-2", "visit_reminder", "tr") is False  # not that tenant's

    await templates.put("t-1", [record("tr", TemplateStatus.PAUSED)])
    assert await templates.claim_staff_notice("t-1", "visit_reminder", "tr") is True
