"""Bundles in the send path (domain/bundles.py): hold a message for its bundle, and send a bundle.

`hold` runs inside `send_message`, before any channel is chosen; `send_bundle` is the activity of a
round of BundleWorkflow. Both go through the one send path (`NudgeActivities._send`), so a bundle
is recorded, routed, retried and reconciled like any other message.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.context import render_context
from activities.models import SendBundleInput, SendMessageInput, SendMessageResult
from domain.bundles import BUNDLE_TEMPLATES, Bundle, bundle_of
from domain.contacts import Channel
from domain.deliveries import Delivery, DeliveryOutcome, DeliveryStatus
from domain.planning import MessageFacts, PlannedMessage

if TYPE_CHECKING:
    from activities.send import Attempt, NudgeActivities

HELD = "held"


def may_hold(message: PlannedMessage) -> bool:
    """Whether a bundle may gather this message (a staff digest, a guardian's children), as far as
    its audience tells; the tenant's settings decide the rest (`hold`)."""
    return message.audience in ("staff", "guardian")


async def hold(sender: NudgeActivities, row: Delivery, input: SendMessageInput) -> SendMessageResult | None:
    """Hold the message for its bundle and wake the bundle's workflow; None when it goes alone."""
    message = input.message
    temporal = sender.temporal
    if temporal is None or not may_hold(message):
        return None
    bundle = bundle_of(message, await sender.store.get_settings(input.tenant))
    if bundle is None:
        return None
    from workflows.bundle import BundleInput, BundleWorkflow

    await sender.store.hold_for_bundle(
        input.tenant, bundle.key, row.id, message.recipient.id, input.model_dump(mode="json")
    )
    reason = f"held for the {_what(bundle)} (up to {int(bundle.window.total_seconds())} s)"
    await sender.store.move_delivery(
        row.id, DeliveryOutcome(status=DeliveryStatus.PLANNED, reason=reason), [DeliveryStatus.PLANNED]
    )
    start = functools.partial(
        temporal.start_workflow,
        BundleWorkflow.run,
        BundleInput(
            tenant=input.tenant,
            key=bundle.key,
            kind=bundle.kind,
            window_seconds=int(bundle.window.total_seconds()),
        ),
        id=bundle.workflow_id(input.tenant),
        task_queue=activity.info().task_queue,
        start_signal="arrived",
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    try:
        await start()
    except WorkflowAlreadyStartedError:
        # Two held messages woke the bundle at the same moment and the server started it for the
        # other (Java's test server answers so): signal-with-start again signals the one running.
        await start()
    return SendMessageResult(delivery_id=row.id, status=HELD, reason=reason)


async def send_bundle(sender: NudgeActivities, input: SendBundleInput, attempt: Attempt) -> SendMessageResult:
    """Send what is held: one message as itself, two or more as one; record each held one."""
    held = await sender.store.take_bundle(input.tenant, input.key, input.claim)
    if not held:
        return SendMessageResult(status=DeliveryStatus.SKIPPED.value, reason="nothing held")
    inputs = [(delivery_id, SendMessageInput.model_validate(data)) for delivery_id, data in held]
    if len(inputs) == 1:
        result = await sender._send(inputs[0][1], attempt, alone=True)
    else:
        result = await sender._send(await _together(sender, input, inputs), attempt, alone=True)
        await _record_carried(sender, [delivery_id for delivery_id, _ in held], result)
    await sender.store.forget_bundle(input.claim)
    return result


async def _together(
    sender: NudgeActivities, round: SendBundleInput, inputs: list[tuple[int, SendMessageInput]]
) -> SendMessageInput:
    """One message listing every held one, each in its short (SMS) wording."""
    first = inputs[0][1]
    items = [await _short(sender, delivery_id, held) for delivery_id, held in inputs]
    message = first.message.model_copy(
        update={
            "step": f"bundle/{hashlib.sha256(round.claim.encode()).hexdigest()[:16]}",
            "template": BUNDLE_TEMPLATES[round.kind],
            "facts": MessageFacts(items=items),
            "invite": None,
            "expires_at": None,
            "skip_reason": None,
        }
    )
    return first.model_copy(
        update={
            "workflow_id": round.workflow_id,
            "subject": round.workflow_id,
            "message": message,
            "episode": None,
            "appointment": None,
            "lesson": None,
            "invoice": None,
            "balance": None,
            "chat": None,
            "exclude_channels": [],
        }
    )


async def _short(sender: NudgeActivities, delivery_id: int, held: SendMessageInput) -> str:
    recipient = held.message.recipient
    row = await sender.store.get_delivery(delivery_id)
    assert row is not None, "a held message has its delivery row"
    context: dict[str, Any] = render_context(held, recipient, datetime.now(UTC))
    rendered = await sender._render(row, held, recipient, Channel.SMS, context)
    return " ".join(rendered.body.split())


async def _record_carried(
    sender: NudgeActivities, delivery_ids: list[int], result: SendMessageResult
) -> None:
    """Each held message: `skipped`, carried by the bundle's delivery; or what befell the bundle."""
    went = result.status in ("sent", "delivered", "read")
    status = DeliveryStatus.SKIPPED if went else DeliveryStatus(result.status)
    reason = (
        f"sent together in delivery #{result.delivery_id}"
        if went
        else f"its bundle (delivery #{result.delivery_id}) {result.status}: {result.reason or ''}".strip()
    )
    for delivery_id in delivery_ids:
        await sender.store.move_delivery(
            delivery_id,
            DeliveryOutcome(status=status, channel=result.channel, provider=result.provider, reason=reason),
            [DeliveryStatus.PLANNED],
        )


def _what(bundle: Bundle) -> str:
    return "staff digest" if bundle.kind == "staff" else "family reminder"
