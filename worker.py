"""The Temporal worker: runs the lifecycle workflows and the activities that send."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import start_http_server
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import logs
import tracing
from activities.direct import answer_activities
from activities.planning import Planning
from activities.recall import recall_activities
from activities.send import DEFAULT_CALL_BUDGET, NudgeActivities
from activities.slots import slot_activities
from channels import ChannelAdapter
from channels.calendar_links import calendar_url
from channels.config import ChannelsConfig, get_channels_config, reply_secret
from channels.registry import build_adapters, close_adapters
from channels.telegram_links import start_links
from config import Settings, get_settings
from domain.contacts import Channel
from i18n import TemplateRenderer
from store import Store
from workflows.answer import AnswerWorkflow
from workflows.appointment import AppointmentWorkflow
from workflows.bundle import BundleWorkflow
from workflows.chat import ChatEscalationWorkflow
from workflows.client import connect, sdk_metrics_runtime
from workflows.lesson import LessonWorkflow
from workflows.notification import NotificationWorkflow
from workflows.payment import PaymentWorkflow
from workflows.recall import RecallWorkflow
from workflows.slot import SlotOfferWorkflow

WORKFLOWS: Sequence[type] = (
    AppointmentWorkflow,
    LessonWorkflow,
    PaymentWorkflow,
    ChatEscalationWorkflow,
    BundleWorkflow,
    NotificationWorkflow,
    RecallWorkflow,
    SlotOfferWorkflow,
    AnswerWorkflow,
)

# Our pure modules are deterministic and import-light: load them once, not once per run.
PASSTHROUGH = ("domain", "activities.models", "workflows.inputs", "babel", "phonenumbers")


def workflow_runner(sandboxed: bool = True) -> WorkflowRunner:
    """Temporal's sandbox re-checks every workflow activation for non-determinism, at a price.

    Measured (bench/PROPOSALS.md): at 1,000 reminders a minute on 2 cores the sandbox alone took
    p99 lateness from 0.9-1.4 s to 4-11 s. Every workflow test and the replay test run sandboxed, so a
    non-deterministic change fails CI; the production worker (`NUDGEFLOW_WORKFLOW_SANDBOX`, default
    off) does not pay for the same check again at run time.
    """
    if not sandboxed:
        return UnsandboxedWorkflowRunner()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )


def build_worker(
    client: Client,
    store: Store,
    task_queue: str,
    renderer: TemplateRenderer | None = None,
    adapters: Mapping[Channel, ChannelAdapter] | None = None,
    sandboxed: bool = True,
    call_budget: timedelta = DEFAULT_CALL_BUDGET,
    calendar_link: Callable[[int], str] | None = None,
    telegram_link: Callable[[int], str] | None = None,
    **tuning: Any,
) -> Worker:
    """The worker; `tuning` goes to temporalio's Worker (max_cached_workflows, max_concurrent_*, pollers)."""
    activities = NudgeActivities(
        store,
        renderer or TemplateRenderer(),
        adapters,
        temporal=client,
        call_budget=call_budget,
        calendar_link=calendar_link,
        telegram_link=telegram_link,
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=[
            *Planning(store).activities(),
            activities.load_settings,
            activities.send_message,
            activities.settle_send,
            activities.send_bundle,
            *recall_activities(store, client),
            *slot_activities(store, adapters),
            *answer_activities(store, adapters),
        ],
        workflow_runner=workflow_runner(sandboxed),
        **tuning,
    )


def tuning(settings: Settings) -> dict[str, Any]:
    """The worker's keywords from the environment (config.py), for build_worker."""
    return {
        "max_cached_workflows": settings.max_cached_workflows,
        "sandboxed": settings.workflow_sandbox,
        "sticky_queue_schedule_to_start_timeout": timedelta(seconds=settings.sticky_queue_timeout),
        # No more at once than finish within the workflow task timeout (config.py).
        "max_concurrent_workflow_tasks": settings.max_concurrent_workflow_tasks,
        "max_concurrent_local_activities": settings.max_concurrent_local_activities,
        # SIGTERM: stop polling, let running sends finish this long, then cancel them (they retry
        # on another worker); workflow tasks in hand are completed first either way.
        "graceful_shutdown_timeout": timedelta(seconds=settings.worker_drain_timeout),
    }


def serve_metrics(settings: Settings) -> None:
    """nudgeflow's own metrics (activities/metrics.py) for Prometheus, unless the port is 0 or taken."""
    if not settings.worker_metrics_port:
        return
    log = logging.getLogger("nudgeflow.worker")
    try:
        start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host)
    except OSError as exc:  # another worker on this host serves there: this one runs without
        log.warning("metrics off: cannot serve on port %d (%s)", settings.worker_metrics_port, exc)
        return
    log.info("metrics on http://%s:%d/metrics", settings.worker_metrics_host, settings.worker_metrics_port)


def calendar_links(channels: ChannelsConfig) -> Callable[[int], str] | None:
    """`/c/{token}` links under the public URL the API is reached at; none without one."""
    base = channels.public_base_url
    if not base:
        return None
    secret = reply_secret(channels)
    return lambda delivery_id: calendar_url(base, delivery_id, secret, datetime.now(UTC))


async def main() -> None:
    logs.configure()  # httpx would log the Telegram bot token with every URL at INFO
    settings = get_settings()
    settings.check_production()  # no production worker without its secrets
    tracing.configure(settings, "nudgeflow-worker")
    serve_metrics(settings)
    store = Store(settings.database_url)
    client = await connect(settings, runtime=sdk_metrics_runtime(settings))
    # Channels with credentials in the environment get their provider; the rest stay with the outbox.
    channels = get_channels_config()
    adapters = build_adapters(channels)
    worker = build_worker(
        client,
        store,
        settings.task_queue,
        adapters=adapters,
        call_budget=channels.call_budget(),
        calendar_link=calendar_links(channels),
        telegram_link=start_links(channels),
        **tuning(settings),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        logging.getLogger("nudgeflow.worker").info("worker polling %s", settings.task_queue)
        await stop.wait()
    await close_adapters(adapters)
    await store.close()


def run(main: Coroutine[Any, Any, None]) -> None:
    """On uvloop, as uvicorn runs the API: the worker's event loop hops to and from threads for
    every SQLite statement and every workflow activation; on uvloop a confirmation cost the worker
    15-19% less CPU than on asyncio's own loop (bench end_to_end, three pairs of runs)."""
    try:
        import uvloop
    except ImportError:  # a platform without it (Windows): asyncio's own loop
        asyncio.run(main)
        return
    uvloop.run(main)


if __name__ == "__main__":
    run(main())
