"""What the send activity tells Prometheus: outcomes, reminder lateness, provider calls, template errors.

The worker serves these on NUDGEFLOW_WORKER_METRICS_PORT (worker.py); the API process serves its own
(the relay's backlog and dead letters) on `/metrics`. Labels stay few and bounded: tenants, channels,
providers and statuses, never a contact, a phone number or a workflow id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from prometheus_client import Counter, Histogram

from channels import ProviderUnavailable, RecipientUnreachable
from domain.deliveries import Delivery, DeliveryStatus

DELIVERIES = Counter(
    "nudgeflow_deliveries_total",
    "Messages that reached an outcome (sent, failed, skipped, unknown), each counted once",
    ["tenant", "channel", "provider", "status"],
)
LATENESS = Histogram(
    "nudgeflow_reminder_lateness_seconds",
    "How long after its planned moment a message went out (sent_at - scheduled_for), by template",
    ["template"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)
PROVIDER_CALLS = Histogram(
    "nudgeflow_provider_call_seconds",
    "Time one provider call took, by how it ended: ok, unreachable, unavailable, in_doubt, timeout, "
    "cancelled, error",
    ["channel", "provider", "result"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 22),
)
PROVIDER_ERRORS = Counter(
    "nudgeflow_provider_errors_total",
    "Provider calls that did not deliver: unreachable recipient, unavailable provider, in doubt, timeout",
    ["channel", "provider", "error"],
)
UNKNOWN_OUTCOMES = Counter(
    "nudgeflow_delivery_unknown_total",
    "Messages a provider may have taken without our knowing, recorded unknown and not resent",
    ["channel", "provider"],
)
TEMPLATE_ERRORS = Counter(
    "nudgeflow_template_errors_total",
    "Templates that failed at send time: a published version (the file default went instead) or the "
    "file default itself (nothing went)",
    ["tenant", "template", "fallback"],
)


def count_outcome(row: Delivery) -> None:
    """A delivery row has just reached its outcome: count it, and its lateness if it went out."""
    DELIVERIES.labels(
        tenant=row.tenant,
        channel=row.channel or "",
        provider=row.provider or "",
        status=row.status.value,
    ).inc()
    if row.status == DeliveryStatus.SENT and row.sent_at is not None:
        late = (_utc(row.sent_at) - _utc(row.scheduled_for)).total_seconds()
        LATENESS.labels(template=row.template).observe(max(late, 0.0))


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def count_template_error(tenant: str, template: str, fell_back: bool) -> None:
    fallback = "default" if fell_back else "none"
    TEMPLATE_ERRORS.labels(tenant=tenant, template=template, fallback=fallback).inc()


def _result_of(exc: BaseException) -> str:
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    if isinstance(exc, RecipientUnreachable):
        return "unreachable"
    if isinstance(exc, ProviderUnavailable):
        return "in_doubt" if exc.maybe_sent else "unavailable"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "error"


@contextmanager
def provider_call(channel: str, provider: str) -> Iterator[None]:
    """Time one adapter call and count it by how it ended."""
    began = time.perf_counter()
    result = "ok"
    try:
        yield
    except BaseException as exc:
        result = _result_of(exc)
        PROVIDER_ERRORS.labels(channel=channel, provider=provider, error=result).inc()
        raise
    finally:
        PROVIDER_CALLS.labels(channel=channel, provider=provider, result=result).observe(
            time.perf_counter() - began
        )
