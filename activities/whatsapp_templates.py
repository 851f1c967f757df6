"""WhatsApp template status at send time: which language may go, and staff told once of one that may not.

The send activity asks `choose` before a WhatsApp send; outside the 24-hour window a template in a
language that is not approved is never tried (domain/whatsapp_templates.py). The first message it
stops tells the tenant's staff, once per template, language and status (the store's
`staff_told_at`), each on their first channel, recorded in the delivery log like any message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from activities.direct import send_text
from channels import ChannelAdapter
from domain.contacts import Channel, Contact
from domain.deliveries import DeliveryDraft, DeliveryStatus
from domain.routing import channel_order
from domain.whatsapp_templates import TemplateChoice, choose_language
from store import Store
from store.whatsapp_templates import WhatsAppTemplates

log = logging.getLogger("nudgeflow.whatsapp_templates")
STAFF_TEMPLATE = "staff_whatsapp_template"
TELL_STAFF = {
    "en": "The WhatsApp template «{template}» in {language} is {status}{why}. {then}",
    "ru": "Шаблон WhatsApp «{template}» на языке {language}: {status}{why}. {then}",
}
STATUS_WORDS = {
    "ru": {
        "pending": "на проверке",
        "rejected": "отклонён",
        "paused": "приостановлен",
        "not approved": "не одобрен",
    }
}
THEN = {
    "en": ("Messages go in {fallback} instead.", "Messages go by the next channel."),
    "ru": ("Сообщения уходят на языке {fallback}.", "Сообщения уходят по следующему каналу."),
}


async def template_choice(
    store: Store, tenant: str, template: str, locale: str, fallback_locale: str
) -> TemplateChoice:
    statuses = await WhatsAppTemplates(store.engine).statuses(tenant, template)
    return choose_language(template, statuses, locale, fallback_locale)


def _staff_text(
    locale: str, template: str, language: str, status: str, reason: str | None, fallback: str | None
) -> str:
    lang = locale.split("-")[0].lower()
    lang = lang if lang in TELL_STAFF else "en"
    sent_in, next_channel = THEN[lang]
    then = sent_in.format(fallback=fallback) if fallback else next_channel
    why = f" ({reason})" if reason else ""
    status = STATUS_WORDS.get(lang, {}).get(status, status)
    return TELL_STAFF[lang].format(template=template, language=language, status=status, why=why, then=then)


async def tell_staff_once(
    store: Store,
    adapters: Mapping[Channel, ChannelAdapter],
    tenant: str,
    template: str,
    choice: TemplateChoice,
) -> int:
    """Tell the tenant's staff that `choice.blocked` stopped a template, unless they heard already;
    how many were sent the news. A provider failure is logged and recorded, never raised."""
    if choice.blocked is None:
        return 0
    templates = WhatsAppTemplates(store.engine)
    if not await templates.claim_staff_notice(tenant, template, choice.blocked):
        return 0
    record = next(
        (r for r in await templates.list(tenant) if (r.template, r.language) == (template, choice.blocked)),
        None,
    )
    status, reason = (record.status.value, record.reason) if record else ("not approved", None)
    settings = await store.get_settings(tenant)
    told = 0
    for person in settings.staff_recipients:
        order = channel_order(person, settings.channel_costs, STAFF_TEMPLATE)
        if not order:
            continue
        text = _staff_text(person.locale, template, choice.blocked, status, reason, choice.language)
        told += await _send(
            store, adapters, tenant, person, order[0], text, f"{template}/{choice.blocked}/{status}"
        )
    return told


async def _send(
    store: Store,
    adapters: Mapping[Channel, ChannelAdapter],
    tenant: str,
    person: Contact,
    channel: Channel,
    text: str,
    step: str,
) -> int:
    now = datetime.now(UTC)
    draft = DeliveryDraft(
        tenant=tenant,
        idempotency_key=f"whatsapp-template:{tenant}:{step}:{now.isoformat()}:{person.id}",
        subject=f"whatsapp-template:{step.partition('/')[0]}",
        workflow_id=f"whatsapp-templates:{tenant}",
        step=f"whatsapp-template/{step}/{person.id}",
        contact_id=person.id,
        template=STAFF_TEMPLATE,
        scheduled_for=now,
    )
    row, created = await store.begin_delivery(draft)
    if not created:
        return 0
    finished = await send_text(
        store, row, adapters.get(channel), channel, person, text, what="a staff notice of a WhatsApp template"
    )
    return int(finished.status == DeliveryStatus.SENT)
