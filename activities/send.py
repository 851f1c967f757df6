"""The send activity: record under the idempotency key, render, route, deliver, record again."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.context import render_context
from activities.models import LoadSettingsInput, SendMessageInput, SendMessageResult
from channels import ChannelAdapter, OutboxAdapter, OutgoingMessage, ProviderUnavailable, RecipientUnreachable
from domain.calendar import build_ics
from domain.contacts import Channel, Contact
from domain.deliveries import (
    FINAL_STATUSES,
    Attachment,
    Delivery,
    DeliveryDraft,
    DeliveryOutcome,
    DeliveryStatus,
)
from domain.planning import PlannedMessage
from domain.routing import category_of, channel_order, dead_address
from domain.settings import TenantSettings
from i18n import RenderedMessage, TemplateNotFound, TemplateOverride, TemplateRenderer, TemplateRenderError
from store import Store
from store.templates import TemplateError


def _result(row: Delivery) -> SendMessageResult:
    return SendMessageResult(
        delivery_id=row.id,
        status=row.status.value,
        channel=row.channel,
        provider=row.provider,
        reason=row.reason,
    )


def invite_attachment(message: PlannedMessage) -> list[Attachment]:
    invite = message.invite
    if invite is None:
        return []
    ics = build_ics(**invite.model_dump())
    method = "CANCEL" if invite.cancelled else "REQUEST"
    return [
        Attachment(filename="appointment.ics", content_type=f"text/calendar; method={method}", content=ics)
    ]


class NudgeActivities:
    """Activities that need the store, the renderer and the channel adapters."""

    def __init__(
        self,
        store: Store,
        renderer: TemplateRenderer,
        adapters: Mapping[Channel, ChannelAdapter] | None = None,
        temporal: Client | None = None,
    ) -> None:
        self.temporal = temporal
        self.store = store
        self.renderer = renderer
        self.adapters = dict(adapters or {})
        self.outbox = OutboxAdapter()

    @activity.defn(name="load_settings")
    async def load_settings(self, input: LoadSettingsInput) -> TenantSettings:
        return await self.store.get_settings(input.tenant)

    @activity.defn(name="send_message")
    async def send_message(self, input: SendMessageInput) -> SendMessageResult:
        message = input.message
        draft = DeliveryDraft(
            tenant=input.tenant,
            idempotency_key=f"{input.workflow_id}/{message.step}",
            subject=input.subject,
            workflow_id=input.workflow_id,
            step=message.step,
            contact_id=message.recipient.id,
            template=message.template,
            scheduled_for=message.send_at,
        )
        row, _ = await self.store.begin_delivery(draft)
        if row.status in FINAL_STATUSES:
            # A retried activity or a replayed step: it already went (or was skipped) once.
            return _result(row)
        now = datetime.now(UTC)
        moment = max(now, activity.info().current_attempt_scheduled_time)
        if message.skip_reason:
            return await self._finish(row, DeliveryStatus.SKIPPED, reason=message.skip_reason)
        if message.expires_at is not None and moment > message.expires_at:
            reason = f"expired: its moment passed at {message.expires_at.isoformat()}"
            if row.reason:
                reason += f"; last attempt: {row.reason}"
            return await self._finish(row, DeliveryStatus.SKIPPED, reason=reason)
        recipient = message.recipient
        if message.audience != "staff":
            # With what providers taught us: a linked Telegram chat, the WhatsApp window, dead addresses.
            recipient = await self.store.contact_for_sending(input.tenant, recipient)
        order = channel_order(recipient, input.channel_costs, message.template)
        if message.channels is not None:
            order = [channel for channel in order if channel in message.channels]
            if not order:
                names = "/".join(channel.value for channel in message.channels)
                return await self._finish(row, DeliveryStatus.SKIPPED, reason=f"not reachable on {names}")
        if not order:
            if category_of(message.template) in recipient.opted_out:
                return await self._finish(
                    row, DeliveryStatus.SKIPPED, reason="recipient opted out of this category"
                )
            order = [Channel.OUTBOX]
        if input.guarded and not await self._still_wanted(input):
            return await self._finish(
                row, DeliveryStatus.SKIPPED, reason="no longer wanted: the lifecycle moved on"
            )
        return await self._deliver(row, input, recipient, order, moment)

    async def _still_wanted(self, input: SendMessageInput) -> bool:
        """Ask the workflow itself, as late as possible: a payment or a read may have just arrived."""
        if self.temporal is None:
            return True
        handle = self.temporal.get_workflow_handle(input.workflow_id)
        return bool(await handle.query("wanted", input.message.step, result_type=bool))

    async def _deliver(
        self, row: Delivery, input: SendMessageInput, recipient: Contact, order: list[Channel], now: datetime
    ) -> SendMessageResult:
        message = input.message
        context = render_context(input, recipient, now)
        attachments = invite_attachment(message)
        last_reason = "no channel reached the recipient"
        for channel in order:
            try:
                rendered = await self._render(row, input, recipient, channel, context)
            except (TemplateRenderError, TemplateNotFound) as exc:
                # Never half a message: the patient gets nothing, staff see why.
                return await self._finish(
                    row, DeliveryStatus.FAILED, channel=channel.value, reason=f"template: {exc}"
                )
            adapter = self.adapters.get(channel, self.outbox)
            outgoing = OutgoingMessage(
                idempotency_key=row.idempotency_key,
                channel=channel,
                recipient=recipient,
                subject=rendered.subject,
                title=rendered.title,
                body=rendered.body,
                html=rendered.html,
                buttons=rendered.buttons,
                attachments=attachments,
                delivery_id=row.id,
                template=message.template,
                locale=rendered.locale,
                expires_at=message.expires_at,
            )
            try:
                receipt = await adapter.send(outgoing)
            except RecipientUnreachable as exc:
                last_reason = f"{channel.value}: {exc}"
                if exc.address is not None and message.audience != "staff":
                    # The router stops using it: no second blocked-bot error on the next reminder.
                    address = dead_address(channel, exc.address)
                    await self.store.mark_dead_address(input.tenant, recipient.id, address)
                await self.store.finish_delivery(
                    row.id,
                    DeliveryOutcome(
                        status=DeliveryStatus.FAILED,
                        channel=channel.value,
                        provider=exc.provider or adapter.provider,
                        reason=last_reason,
                    ),
                )
                continue
            except ProviderUnavailable as exc:
                # Logged as an attempt; the row stays planned, so the retry may still send it.
                await self.store.finish_delivery(
                    row.id,
                    DeliveryOutcome(
                        status=DeliveryStatus.PLANNED,
                        channel=channel.value,
                        provider=exc.provider or adapter.provider,
                        reason=f"{channel.value} unavailable: {exc}",
                    ),
                )
                raise ApplicationError(
                    f"{channel.value} unavailable: {exc}",
                    type="ProviderUnavailable",
                    next_retry_delay=exc.retry_after,
                ) from exc
            activity.logger.info("sent %s via %s/%s", row.idempotency_key, channel.value, receipt.provider)
            return await self._finish(
                row,
                DeliveryStatus.SENT,
                channel=channel.value,
                provider=receipt.provider,
                reason=rendered.notice,
                locale=rendered.locale,
                body="\n\n".join(
                    part for part in (rendered.subject or rendered.title, rendered.body) if part
                ),
                attachments=attachments,
                provider_message_id=receipt.provider_message_id,
                cost=receipt.cost,
                sent_at=datetime.now(UTC),
            )
        return await self._finish(row, DeliveryStatus.FAILED, reason=last_reason)

    async def _finish(self, row: Delivery, status: DeliveryStatus, **fields: Any) -> SendMessageResult:
        outcome = DeliveryOutcome(status=status, **fields)
        return _result(await self.store.finish_delivery(row.id, outcome))

    async def _render(
        self,
        row: Delivery,
        input: SendMessageInput,
        recipient: Contact,
        channel: Channel,
        context: dict[str, Any],
    ) -> RenderedMessage:
        """The tenant's published version, read per send so a publish takes effect at once; if it
        fails, the file default goes out instead and staff see the error."""
        key = input.message.template
        published = await self.store.published_templates(input.tenant, key)
        overrides = [TemplateOverride(v.locale, v.channel, v.fields, v.id) for v in published]
        args: dict[str, Any] = {
            "locale": recipient.locale,
            "channel": channel.value,
            "context": context,
            "timezone": recipient.timezone,
            "default_locale": input.default_locale,
        }
        try:
            return self.renderer.render(key, overrides=overrides, **args)
        except TemplateRenderError as exc:
            if exc.version_id is None:
                raise  # the file default itself failed: nothing to fall back to
            error = TemplateError(
                id=0,
                tenant=input.tenant,
                key=key,
                locale=exc.locale,
                channel=exc.variant,
                version_id=exc.version_id,
                delivery_id=row.id,
                error=str(exc),
                at=datetime.now(UTC),
            )
            await self.store.record_template_error(error)
            rendered = self.renderer.render(key, **args)
            return rendered.model_copy(update={"notice": f"template: {exc}; sent the default text instead"})
