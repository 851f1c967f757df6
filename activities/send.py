"""The send activity: one message, through the delivery row's state machine (domain/deliveries.py).

    read (the recipient as providers taught us, the template's versions, what the cadence counts)
      → skip? (its moment passed, opted out, nowhere to reach them): its row written `skipped`
      → per channel in routing order: render, claim `sending`, call the adapter, record the outcome

The row is written with the claim (or the skip), under the idempotency key: one write per message
fewer than writing it `planned` first. Where writing it finds an earlier attempt's row, the send
starts again from that row: a retry that finds `sending` reconciles first (ask the provider, else
the duplicate policy), one that finds it done returns. A message whose text links to its row (the
calendar link, the bot's deep link) or that a bundle may hold is written `planned` first.

A provider call, once claimed, is never interrupted by a cancellation: it finishes (within its call
budget) and is recorded, so the row never lies about what left. Every attempt ends before its
activity timeout, so two attempts of one message never overlap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client

from activities import bundles, metrics, release
from activities.cadence import cadence_category, counting, hold_for_cadence
from activities.context import render_context
from activities.direct import Retry
from activities.models import (
    LoadSettingsInput,
    SendBundleInput,
    SendMessageInput,
    SendMessageResult,
    SettleSendInput,
)
from activities.pacing import Pacer
from activities.whatsapp_templates import tell_staff_once, template_choice
from channels import ChannelAdapter, OutboxAdapter, OutgoingMessage, ProviderUnavailable, RecipientUnreachable
from channels.base import RECEIVER_DEDUPES, SendReceipt, provider_of
from channels.sms import receives_replies
from channels.telegram_links import LINK_PREFIX, OFFERED_ON, OFFERED_WITH
from domain.calendar import build_ics
from domain.consent import address_of
from domain.contacts import Channel, Contact
from domain.deliveries import (
    FINAL_STATUSES,
    Attachment,
    Delivery,
    DeliveryDraft,
    DeliveryOutcome,
    DeliveryStatus,
    resend_is_harmless,
)
from domain.planning import PlannedMessage
from domain.routing import category_of, channel_order, dead_address, whatsapp_window_open
from domain.settings import TenantSettings
from domain.whatsapp_templates import TemplateChoice
from i18n import RenderedMessage, TemplateNotFound, TemplateOverride, TemplateRenderer, TemplateRenderError
from store import Store
from store.db import BeforeSending
from store.templates import TemplateError, TemplateVersion

# One provider call at most (an adapter makes up to two requests: a token then the send, a free
# text then its template), each bounded by the channel timeout.
DEFAULT_CALL_BUDGET = timedelta(seconds=22)
# Kept free at the end of an attempt to record its outcome before the activity's own timeout.
RECORD_MARGIN = timedelta(seconds=3)
# A provider's clock and ours may differ: look for the message a little before we claimed it.
CLOCK_SKEW = timedelta(minutes=1)
# A claim written before claims said when their attempt ends: the longest attempt a workflow gives
# (ATTEMPT_TIMEOUT in workflows/lifecycle.py and workflows/slot.py; activities do not import workflows).
LONGEST_ATTEMPT = timedelta(minutes=2)
# How soon a retry asks again while another attempt with the same text may still record its answer.
ALIKE_RECHECK = timedelta(seconds=2)
HEARTBEAT_EVERY = 2.0


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


def idempotency_key(input: SendMessageInput) -> str:
    """`{workflow_id}/{step}`, with the lifecycle's episode when it has one: a reused workflow id
    (a second low-balance episode) never meets the keys of an earlier run."""
    if input.episode:
        return f"{input.workflow_id}/{input.episode}/{input.message.step}"
    return f"{input.workflow_id}/{input.message.step}"


def draft(input: SendMessageInput) -> DeliveryDraft:
    """What the message's row holds before anything is sent."""
    message = input.message
    return DeliveryDraft(
        tenant=input.tenant,
        idempotency_key=idempotency_key(input),
        subject=input.subject,
        workflow_id=input.workflow_id,
        step=message.step,
        contact_id=message.recipient.id,
        template=message.template,
        scheduled_for=message.send_at,
        category=cadence_category(input),
    )


class EarlierAttempt(Exception):
    """Writing the row found one already under its key: an earlier attempt's, to be heeded."""


def delivery_id(row: DeliveryDraft) -> int | None:
    """The row's id once it is written; None for a draft."""
    return row.id if isinstance(row, Delivery) else None


class Attempt:
    """The time one activity attempt has: it ends before its timeout, so attempts never overlap."""

    def __init__(self, call_budget: timedelta) -> None:
        info = activity.info()
        started = info.started_time or datetime.now(UTC)
        budget = info.start_to_close_timeout or info.schedule_to_close_timeout or timedelta(minutes=1)
        self.ends = started + budget  # what it claims holds until then (`sending_until`)
        self.deadline = self.ends - RECORD_MARGIN
        self.call_budget = call_budget
        # Set before the claim is asked for: a cancel that lands while the claim commits must not
        # abandon a row already `sending` (a false `unknown`); `unwanted` stops it before the call.
        self.claimed = False
        self.unwanted = False

    def fits_a_call(self) -> bool:
        return datetime.now(UTC) + self.call_budget <= self.deadline


@asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """A regular activity heartbeats, so a cancellation from its workflow reaches it and a dead
    worker is noticed within the heartbeat timeout; a local one cannot."""
    if activity.info().is_local:
        yield
        return

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


class NudgeActivities:
    """Activities that need the store, the renderer and the channel adapters."""

    def __init__(
        self,
        store: Store,
        renderer: TemplateRenderer,
        adapters: Mapping[Channel, ChannelAdapter] | None = None,
        temporal: Client | None = None,
        call_budget: timedelta = DEFAULT_CALL_BUDGET,
        calendar_link: Callable[[int], str] | None = None,
        telegram_link: Callable[[int], str] | None = None,
    ) -> None:
        self.temporal = temporal
        # The public add-to-calendar link of a delivery (`GET /c/{token}`); None without a public URL.
        self.calendar_link = calendar_link
        # The bot's deep link of a delivery (channels/telegram_links.py); None without a bot.
        self.telegram_link = telegram_link
        self.store = store
        self.renderer = renderer
        self.adapters = dict(adapters or {})
        self.outbox = OutboxAdapter()
        self.call_budget = call_budget
        # Each sender's pace, shared by every worker through the store (activities/pacing.py).
        self.pacer = Pacer(store)

    @activity.defn(name="load_settings")
    async def load_settings(self, input: LoadSettingsInput) -> TenantSettings:
        return await self.store.get_settings(input.tenant)

    @activity.defn(name="send_message")
    async def send_message(self, input: SendMessageInput) -> SendMessageResult:
        result = await self._attempt(input)
        # With the planning code it ran beside: the lifecycle compares it with its plan's.
        return result.model_copy(update={"release": release.current()})

    async def _attempt(self, input: SendMessageInput) -> SendMessageResult:
        """One attempt at a message, recorded truly whatever interrupts it."""
        attempt = Attempt(self.call_budget)
        work = asyncio.create_task(self._send(input, attempt))
        async with heartbeating():
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                details = None if activity.info().is_local else activity.cancellation_details()
                by_workflow = details is not None and details.cancel_requested
                # After the claim, the provider call finishes and is recorded truly, whoever asked.
                if attempt.claimed:
                    attempt.unwanted = by_workflow
                    return await work
                work.cancel()
                if by_workflow:
                    # The workflow no longer wants it, and nothing has left: record it skipped.
                    return await self._settle(
                        idempotency_key(input), "no longer wanted: the lifecycle moved on", draft(input)
                    )
                # A worker shutting down, an attempt timed out, an evicted workflow's local attempt:
                # this attempt ends without an outcome, and the next one goes on.
                raise

    @activity.defn(name="send_bundle")
    async def send_bundle(self, input: SendBundleInput) -> SendMessageResult:
        """One round of a bundle's workflow (activities/bundles.py)."""
        async with heartbeating():
            return await bundles.send_bundle(self, input, Attempt(self.call_budget))

    @activity.defn(name="settle_send")
    async def settle_send(self, input: SettleSendInput) -> SendMessageResult:
        """A send the workflow cancelled while it waited to retry: record it skipped, unless it went."""
        return await self._settle(input.idempotency_key, input.reason)

    async def _settle(
        self, key: str, reason: str, unwritten: DeliveryDraft | None = None
    ) -> SendMessageResult:
        """Record it skipped unless it went; `unwritten`: the row as it would be, if none is yet."""
        if unwritten is not None:
            row, written = await self.store.begin_delivery(
                unwritten, DeliveryOutcome(status=DeliveryStatus.SKIPPED, reason=reason)
            )
            if written:
                metrics.count_outcome(row)
                return _result(row)
        else:
            found = await self.store.delivery_by_key(key)
            if found is None:
                return SendMessageResult(status=DeliveryStatus.SKIPPED.value, reason=reason)
            row = found
        if row.status == DeliveryStatus.PLANNED:
            moved = await self.store.move_delivery(
                row.id,
                DeliveryOutcome(status=DeliveryStatus.SKIPPED, reason=reason),
                [DeliveryStatus.PLANNED],
            )
            if moved is not None:
                metrics.count_outcome(moved)
            row = moved or await self.store.delivery_by_key(key) or row
        return _result(row)

    async def _send(
        self, input: SendMessageInput, attempt: Attempt, *, alone: bool = False
    ) -> SendMessageResult:
        try:
            return await self._send_once(input, attempt, alone=alone, row_first=False)
        except EarlierAttempt:
            # A retry: an earlier attempt left the row. Go by what it says, from the start.
            return await self._send_once(input, attempt, alone=alone, row_first=True)

    async def _send_once(
        self, input: SendMessageInput, attempt: Attempt, *, alone: bool, row_first: bool
    ) -> SendMessageResult:
        """The message's row is written with its claim or its outcome (one write fewer), unless an
        earlier attempt's row must be heeded, its text links to it, or its bundle holds it."""
        message = input.message
        row: DeliveryDraft = draft(input)
        if row_first or alone or self._names_its_row(input):
            row, _ = await self.store.begin_delivery(row)
            earlier = await self._after_earlier_attempt(row, input, alone)
            if earlier is not None:
                return earlier
        moment = max(datetime.now(UTC), activity.info().current_attempt_scheduled_time)
        # One read: the recipient with what providers taught us (a linked Telegram chat, the WhatsApp
        # window, dead addresses, consent; a staff member goes as given), the template's versions.
        # And what the cadence counts: this recipient's sends lately, across every lifecycle.
        counted = await counting(self.store, input, row.contact_id, moment)
        known = await self.store.before_sending(
            input.tenant,
            message.template,
            None if message.audience == "staff" else message.recipient,
            counted.question if counted is not None else None,
        )
        recipient = known.contact or message.recipient
        order, skip = self._decide(input, recipient, row, moment)
        if skip is None:
            skip = await hold_for_cadence(self.store, input, recipient, row, counted, known.recent_sends)
        if skip is None and input.guarded and not await self._still_wanted(input):
            skip = "no longer wanted: the lifecycle moved on"
        if skip is not None:
            return await self._finish(row, DeliveryStatus.SKIPPED, reason=skip)
        return await self._deliver(row, input, recipient, order, moment, attempt, known)

    def _names_its_row(self, input: SendMessageInput) -> bool:
        """Written before anything else: a message whose text links to its row (the add-to-calendar
        link, the bot's deep link), or one a bundle may hold (activities/bundles.py)."""
        return (
            self._offers_calendar(input)
            or self._may_offer_telegram(input)
            or (self.temporal is not None and bundles.may_hold(input.message))
        )

    def _offers_calendar(self, input: SendMessageInput) -> bool:
        """The add-to-calendar link goes with an invite that stands, where the API has a public URL."""
        invite = input.message.invite
        return self.calendar_link is not None and invite is not None and not invite.cancelled

    async def _after_earlier_attempt(
        self, row: Delivery, input: SendMessageInput, alone: bool
    ) -> SendMessageResult | None:
        """What an existing row settles; None: go on and send it."""
        if row.status in FINAL_STATUSES:
            # A retried activity or a replayed step: it already went (or was settled) once.
            return _result(row)
        if row.status == DeliveryStatus.SENDING:
            return await self._reconcile(row, input)
        if not alone:
            # A staff digest, a guardian's reminder for several children: held for the bundle.
            return await bundles.hold(self, row, input)
        return None

    async def _still_wanted(self, input: SendMessageInput) -> bool:
        """Only for runs recorded before sends became cancellable: ask the workflow itself."""
        if self.temporal is None:
            return True
        handle = self.temporal.get_workflow_handle(input.workflow_id)
        return bool(await handle.query("wanted", input.message.step, result_type=bool))

    def _decide(
        self, input: SendMessageInput, recipient: Contact, row: DeliveryDraft, moment: datetime
    ) -> tuple[list[Channel], str | None]:
        """The channels to try in order, or why the message is not sent at all."""
        message = input.message
        if message.skip_reason:
            return [], message.skip_reason
        if message.expires_at is not None and moment > message.expires_at:
            reason = f"expired: its moment passed at {message.expires_at.isoformat()}"
            last = row.reason if isinstance(row, Delivery) else None
            return [], reason + (f"; last attempt: {last}" if last else "")
        order = channel_order(recipient, input.channel_costs, message.template)
        if message.channels is not None:
            order = [channel for channel in order if channel in message.channels]
            if not order:
                return [], f"not reachable on {'/'.join(channel.value for channel in message.channels)}"
        order = [channel for channel in order if channel.value not in input.exclude_channels]
        if not order:
            if category_of(message.template) in recipient.opted_out:
                return [], "recipient opted out of this category"
            if input.exclude_channels:
                return [], f"no channel left after {', '.join(input.exclude_channels)} failed"
            order = [Channel.OUTBOX]
        return order, None

    async def _reconcile(self, row: Delivery, input: SendMessageInput) -> SendMessageResult | None:
        """A row left `sending`: an earlier attempt called the provider and never heard back.

        Ask the provider where it can tell; else resend only where a duplicate is harmless; else
        record `unknown` for staff. None means: nothing went out, send it (the row is `planned`)."""
        channel = Channel(row.channel) if row.channel else Channel.OUTBOX
        adapter = self.adapters.get(channel, self.outbox)
        lookup = getattr(adapter, "lookup", None)
        if lookup is not None and row.body is not None:
            outgoing = self._outgoing(row, input, input.message.recipient, channel, body=row.body)
            # A message with the same text to the same number may be another delivery's (two
            # reminders that read alike, siblings on one parent's phone): only an unclaimed one is
            # ours, and the rows sending it alike look as far back as the first of them claimed.
            alike, _ = await self._sending_alike(row, channel, outgoing.recipient)
            since = min(other.updated_at for other in [row, *alike]) - CLOCK_SKEW
            try:
                found: list[SendReceipt] = await lookup(outgoing, since)
            except ProviderUnavailable as exc:
                raise Retry(f"{channel.value}: cannot tell yet whether it went: {exc}") from exc
            # Then, at one moment, who is still sending it and which of those messages are recorded.
            alike, claimed = await self._sending_alike(
                row, channel, outgoing.recipient, [receipt.provider_message_id for receipt in found]
            )
            unclaimed = [r for r in found if r.provider_message_id not in claimed]
            receipt = self._ours(row, alike, unclaimed)
            if receipt is not None:
                reason = f"{receipt.provider} had it after an unanswered attempt: not sent again"
                return await self._sent(row, channel, receipt, body=row.body, reason=reason)
            await self._back_to_planned(
                row, channel, row.provider, f"{row.provider} has no such message: sending it"
            )
            return None
        if row.provider in RECEIVER_DEDUPES or resend_is_harmless(
            input.message.template, input.message.audience
        ):
            await self._back_to_planned(
                row, channel, row.provider, "outcome unknown; a repeat is harmless: sending again"
            )
            return None
        metrics.UNKNOWN_OUTCOMES.labels(channel=channel.value, provider=row.provider or "").inc()
        reason = (
            f"{row.provider} may have taken it without answering ({row.reason or 'no answer'}); not resent"
        )
        return await self._finish(
            row,
            DeliveryStatus.UNKNOWN,
            channel=channel.value,
            provider=row.provider,
            body=row.body,
            reason=reason,
        )

    async def _sending_alike(
        self, row: Delivery, channel: Channel, recipient: Contact, provider_ids: Sequence[str] = ()
    ) -> tuple[list[Delivery], set[str]]:
        """The other deliveries `sending` this row's text through its provider to the same address,
        and which of `provider_ids` a delivery records (store.deliveries.sending_alike)."""
        address = address_of(recipient, channel)
        sending, claimed = await self.store.sending_alike(row, provider_ids)
        alike = [
            other
            for other, contact in sending
            if other.contact_id == row.contact_id
            or (contact is not None and address_of(contact, channel) == address)
        ]
        return alike, claimed

    @staticmethod
    def _ours(row: Delivery, alike: list[Delivery], unclaimed: list[SendReceipt]) -> SendReceipt | None:
        """Which of the provider's unclaimed messages with this text to this address is this row's.

        Another delivery `sending` the same text to the same address (`alike`) may own one: its
        attempt may have had the provider's answer and not recorded it yet. While any such attempt
        can still record, this retry waits. Once none can, the rows in doubt take the messages in
        the order they were claimed, and those left over go again: the messages read alike, so the
        recipient gets as many as were meant, whichever of them went.
        """
        if not unclaimed:
            return None
        now = datetime.now(UTC)
        ends = [other.sending_until or other.updated_at + LONGEST_ATTEMPT for other in alike]
        live = [end for end in ends if end > now]
        if live:
            raise Retry(
                "another attempt with the same text to the same address may still record what the "
                "provider answered: asking again once it has",
                min(min(live) - now, ALIKE_RECHECK),
            )
        in_doubt = [other.id for other in sorted([row, *alike], key=lambda r: (r.updated_at, r.id))]
        rank = in_doubt.index(row.id)
        ordered = sorted(unclaimed, key=lambda receipt: receipt.provider_message_id)
        return ordered[rank] if rank < len(ordered) else None

    async def _deliver(
        self,
        row: DeliveryDraft,
        input: SendMessageInput,
        recipient: Contact,
        order: list[Channel],
        now: datetime,
        attempt: Attempt,
        known: BeforeSending,
    ) -> SendMessageResult:
        message = input.message
        context = render_context(input, recipient, now)
        # A confirmation offers the link on every channel; it follows later reschedules by itself.
        written = delivery_id(row)  # written first when a link names it (`_names_its_row`)
        link = self.calendar_link
        context["calendar_url"] = link(written) if link and written and self._offers_calendar(input) else None
        attachments = invite_attachment(message)
        # The first confirmation to a contact not in Telegram yet offers the bot, once per contact.
        context["telegram_link"] = self._telegram_offer(input, recipient, row, known.telegram_offered_at)
        last_reason = "no channel reached the recipient"
        # A staff-edited version that failed to render, before the row it belongs to is written.
        unrecorded: list[TemplateError] = []
        passed_over: str | None = None  # why WhatsApp was passed over (its template cannot go)
        for channel in order:
            if not attempt.fits_a_call():
                # Another provider call could outlive this attempt: the next attempt goes on.
                raise Retry(f"attempt out of time before {channel.value}; last: {last_reason}")
            choice, notice = None, passed_over
            if channel is Channel.WHATSAPP and message.audience != "staff":
                choice = await self._whatsapp_template(input, recipient)
                if not whatsapp_window_open(recipient, datetime.now(UTC)):  # as the adapter decides
                    if choice.language is None:
                        last_reason = passed_over = f"whatsapp: {choice.reason}"
                        continue
                    notice = choice.reason
            try:
                as_sent = recipient
                if notice is not None and choice is not None and choice.locale is not None:
                    as_sent = recipient.model_copy(update={"locale": choice.locale})  # the fallback
                # An SMS asks for "1 / 2" only where the gateway hands the answer back (Twilio).
                context["can_reply"] = channel is not Channel.SMS or receives_replies(
                    self.adapters.get(channel), recipient.phone or ""
                )
                rendered = await self._render(
                    row, input, as_sent, channel, context, known.templates, unrecorded
                )
            except (TemplateRenderError, TemplateNotFound) as exc:
                # Never half a message: the patient gets nothing, staff see why.
                metrics.count_template_error(input.tenant, input.message.template, fell_back=False)
                return await self._finish(
                    row, DeliveryStatus.FAILED, channel=channel.value, reason=f"template: {exc}"
                )
            adapter = self.adapters.get(channel, self.outbox)
            outgoing = self._outgoing(
                row, input, recipient, channel, rendered=rendered, attachments=attachments
            )
            if choice is not None:
                allowed = {"template_language": choice.language, "template_allowed": bool(choice.language)}
                outgoing = outgoing.model_copy(update=allowed)
            provider = provider_of(adapter, outgoing)
            body = "\n\n".join(part for part in (rendered.subject or rendered.title, rendered.body) if part)
            # Its moment at the provider, reserved before anything is claimed (Paced: a later attempt).
            ticket = f"{row.idempotency_key}/{channel.value}"
            turn = await self.pacer.turn(adapter, outgoing, ticket, attempt.deadline - attempt.call_budget)
            attempt.claimed = True
            try:
                claimed = await self._claim(row, channel, provider, body, attempt.ends)
            except BaseException:
                attempt.claimed = False
                raise
            if claimed is None:
                attempt.claimed = False
                current = await self.store.get_delivery(row.id) if isinstance(row, Delivery) else None
                if current is not None and current.status in FINAL_STATUSES:
                    return _result(current)
                raise Retry("another attempt holds this message")
            if outgoing.delivery_id is None:
                outgoing = outgoing.model_copy(update={"delivery_id": claimed.id})
            row = claimed
            for error in unrecorded:
                await self.store.record_template_error(error.model_copy(update={"delivery_id": row.id}))
            unrecorded.clear()
            await self.pacer.wait(turn)  # right before the call, after the claim's (group) commit
            if attempt.unwanted:
                # Cancelled by the workflow while the claim committed: nothing has left yet.
                return await self._finish(
                    row,
                    DeliveryStatus.SKIPPED,
                    channel=channel.value,
                    provider=provider,
                    reason="no longer wanted: the lifecycle moved on",
                )
            try:
                with metrics.provider_call(channel.value, provider):
                    async with asyncio.timeout(self.call_budget.total_seconds()):
                        receipt = await adapter.send(outgoing)
            except RecipientUnreachable as exc:
                attempt.claimed = False
                last_reason = f"{channel.value}: {exc}"
                if exc.address is not None and message.audience != "staff":
                    # The router stops using it: no second blocked-bot error on the next reminder.
                    await self.store.mark_dead_address(
                        input.tenant, recipient.id, dead_address(channel, exc.address)
                    )
                await self._back_to_planned(
                    row, channel, exc.provider or provider, last_reason, DeliveryStatus.FAILED
                )
                continue
            except ProviderUnavailable as exc:
                reason = f"{channel.value} unavailable: {exc}"
                if exc.retry_after is not None and not exc.maybe_sent:
                    await self.pacer.hold_back(adapter, outgoing, exc.retry_after)  # every worker waits
                if exc.maybe_sent:
                    # Left `sending`: the next attempt asks the provider before anything else.
                    await self._in_doubt(row, channel, exc.provider or provider, reason)
                else:
                    await self._back_to_planned(
                        row, channel, exc.provider or provider, reason, DeliveryStatus.FAILED
                    )
                raise Retry(reason, exc.retry_after) from exc
            except TimeoutError as exc:
                reason = f"{channel.value}: no answer within {self.call_budget.total_seconds():.0f} s"
                await self._in_doubt(row, channel, provider, reason)
                raise Retry(reason) from exc
            activity.logger.info("sent %s via %s/%s", row.idempotency_key, channel.value, receipt.provider)
            return await self._sent(
                row,
                channel,
                receipt,
                reason="; ".join(r for r in (notice, rendered.notice) if r) or None,
                locale=rendered.locale,
                body=body,
                attachments=attachments,
                template_version_id=rendered.version_id,
            )
        return await self._finish(row, DeliveryStatus.FAILED, reason=last_reason)

    async def _claim(
        self, row: DeliveryDraft, channel: Channel, provider: str, body: str, until: datetime
    ) -> Delivery | None:
        """planned → sending, held until this attempt ends; a message not written yet is written
        `sending`. None: another attempt holds it."""
        if isinstance(row, Delivery):
            return await self.store.claim_sending(
                row.id, DeliveryStatus.PLANNED, channel.value, provider, body, until
            )
        claim = DeliveryOutcome(
            status=DeliveryStatus.SENDING,
            channel=channel.value,
            provider=provider,
            body=body,
            sending_until=until,
        )
        claimed, written = await self.store.begin_delivery(row, claim)
        if not written:
            raise EarlierAttempt(row.idempotency_key)
        return claimed

    async def _whatsapp_template(self, input: SendMessageInput, recipient: Contact) -> TemplateChoice:
        """The WhatsApp template's language for this patient; staff hear once of one that cannot go."""
        template = input.message.template
        choice = await template_choice(
            self.store, input.tenant, template, recipient.locale, input.default_locale
        )
        await tell_staff_once(self.store, self.adapters, input.tenant, template, choice)
        return choice

    def _may_offer_telegram(self, input: SendMessageInput) -> bool:
        """Not a confirmation, no bot, a staff member: never offered the bot."""
        message = input.message
        return (
            self.telegram_link is not None
            and message.audience != "staff"
            and message.template in OFFERED_WITH
        )

    def _telegram_offer(
        self, input: SendMessageInput, recipient: Contact, row: DeliveryDraft, offered_at: datetime | None
    ) -> str | None:
        """The bot's deep link for this message, or None: see `_may_offer_telegram`, or a contact
        already in Telegram or offered it before."""
        written = delivery_id(row)  # written first when it may be offered (`_names_its_row`)
        if self.telegram_link is None or written is None or not self._may_offer_telegram(input):
            return None
        if recipient.telegram_chat_id:
            return None
        if offered_at is not None:
            return None
        return self.telegram_link(written)

    async def _back_to_planned(
        self,
        row: Delivery,
        channel: Channel,
        provider: str | None,
        reason: str,
        logged_as: DeliveryStatus | None = None,
    ) -> None:
        """sending → planned: the provider certainly did not take it (it said so, never heard us, or
        has no such message), or a repeat is harmless; `logged_as` tells the attempt log why."""
        await self.store.move_delivery(
            row.id,
            DeliveryOutcome(
                status=DeliveryStatus.PLANNED, channel=channel.value, provider=provider, reason=reason
            ),
            [DeliveryStatus.SENDING],
            attempt_status=logged_as,
        )

    async def _in_doubt(self, row: Delivery, channel: Channel, provider: str, reason: str) -> None:
        """Left `sending` for the next attempt to ask the provider; this one records nothing more."""
        await self.store.move_delivery(
            row.id,
            DeliveryOutcome(
                status=DeliveryStatus.SENDING,
                channel=channel.value,
                provider=provider,
                reason=f"{reason} (in doubt)",
                sending_until=datetime.now(UTC),
            ),
            [DeliveryStatus.SENDING],
            keep_updated_at=True,
        )

    def _outgoing(
        self,
        row: DeliveryDraft,
        input: SendMessageInput,
        recipient: Contact,
        channel: Channel,
        *,
        rendered: RenderedMessage | None = None,
        attachments: list[Attachment] | None = None,
        body: str | None = None,
    ) -> OutgoingMessage:
        return OutgoingMessage(
            idempotency_key=row.idempotency_key,
            channel=channel,
            recipient=recipient,
            subject=rendered.subject if rendered else None,
            title=rendered.title if rendered else None,
            body=rendered.body if rendered else (body or ""),
            html=rendered.html if rendered else None,
            buttons=rendered.buttons if rendered else [],
            attachments=attachments or [],
            delivery_id=delivery_id(row),
            template=input.message.template,
            locale=rendered.locale if rendered else (row.locale if isinstance(row, Delivery) else None),
            expires_at=input.message.expires_at,
        )

    async def _sent(
        self, row: Delivery, channel: Channel, receipt: SendReceipt, **fields: Any
    ) -> SendMessageResult:
        # The deep link left with this message: it is not offered to the contact again.
        offered = self.telegram_link is not None and LINK_PREFIX in str(fields.get("body") or "")
        return await self._finish(
            row,
            DeliveryStatus.SENT,
            channel=channel.value,
            provider=receipt.provider,
            provider_message_id=receipt.provider_message_id,
            cost=receipt.cost,
            sent_at=datetime.now(UTC),
            offered_to=(row.tenant, row.contact_id) if offered else None,
            **fields,
        )

    async def _finish(
        self,
        row: DeliveryDraft,
        status: DeliveryStatus,
        offered_to: tuple[str, str] | None = None,
        **fields: Any,
    ) -> SendMessageResult:
        outcome = DeliveryOutcome(status=status, **fields)
        if isinstance(row, Delivery):
            finished = await self.store.finish_delivery(row.id, outcome, offered_to=offered_to)
        else:
            # Skipped or failed before any claim: the row is written at its outcome.
            finished, written = await self.store.begin_delivery(row, outcome)
            if not written:
                raise EarlierAttempt(row.idempotency_key)
        metrics.count_outcome(finished)
        return _result(finished)

    async def _render(
        self,
        row: DeliveryDraft,
        input: SendMessageInput,
        recipient: Contact,
        channel: Channel,
        context: dict[str, Any],
        published: list[TemplateVersion] | None = None,
        unrecorded: list[TemplateError] | None = None,
    ) -> RenderedMessage:
        """The message, with the Telegram offer under it when `context` carries the bot's link;
        `published`: the tenant's versions of the template as just read (else read here);
        `unrecorded`: where a failed version's error waits for the row, when it is not written yet."""
        rendered = await self._render_message(row, input, recipient, channel, context, published, unrecorded)
        link = context.get("telegram_link")
        if not link or channel.value not in OFFERED_ON:
            return rendered
        try:
            offer = self.renderer.render(
                "telegram_offer",
                locale=recipient.locale,
                channel=channel.value,
                context={**context, "telegram_link": link},
                timezone=recipient.timezone,
                default_locale=input.default_locale,
            )
        except (TemplateRenderError, TemplateNotFound) as exc:
            activity.logger.warning("telegram offer left out: %s", exc)  # the confirmation goes anyway
            return rendered
        html = f"{rendered.html}\n{offer.html}" if rendered.html and offer.html else rendered.html
        return rendered.model_copy(update={"body": f"{rendered.body.rstrip()}\n\n{offer.body}", "html": html})

    async def _render_message(
        self,
        row: DeliveryDraft,
        input: SendMessageInput,
        recipient: Contact,
        channel: Channel,
        context: dict[str, Any],
        published: list[TemplateVersion] | None,
        unrecorded: list[TemplateError] | None,
    ) -> RenderedMessage:
        """The tenant's published version, read per send so a publish takes effect at once; if it
        fails, the file default goes out instead and staff see the error."""
        key = input.message.template
        if published is None:
            published = await self.store.published_templates(input.tenant, key)
        overrides = [TemplateOverride(v.locale, v.channel, v.fields, v.id) for v in published]
        args: dict[str, Any] = {
            "locale": recipient.locale,
            "channel": channel.value,
            "context": context,
            "timezone": recipient.timezone,
            "default_locale": input.default_locale,
        }
        if not overrides:
            # Our own file default, as the fallback below: rendered here, without a thread's hops.
            return self.renderer.render(key, **args)
        try:
            # A staff-edited version runs in a thread, within the renderer's budget: one that runs
            # long stops itself there and holds up no other tenant's sends on this event loop.
            return await asyncio.to_thread(self.renderer.render, key, overrides=overrides, **args)
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
                delivery_id=delivery_id(row),
                error=str(exc),
                at=datetime.now(UTC),
            )
            if error.delivery_id is None and unrecorded is not None:
                unrecorded.append(error)  # recorded with the row's id once the claim writes it
            else:
                await self.store.record_template_error(error)
            metrics.count_template_error(input.tenant, key, fell_back=True)
            rendered = self.renderer.render(key, **args)
            return rendered.model_copy(update={"notice": f"template: {exc}; sent the default text instead"})
