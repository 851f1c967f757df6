"""One trace from `POST /v1/events` to the provider's HTTP call, with no personal data in it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import tracing
from api.app import create_app
from channels.registry import build_adapters, close_adapters
from config import Settings
from domain.settings import TenantSettings
from store import Store
from tests.channels.conftest import Fakes
from tests.factories import appointment, patient
from tests.store.backends import database_url
from worker import build_worker

KEY = {"Authorization": "Bearer demo-key", "Content-Type": "application/cloudevents+json"}
NAME, PHONE = "Анна Петрова", "+79161234567"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()
        provider.shutdown()


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    started = Fakes().start()
    try:
        yield started
    finally:
        started.stop()


def values(span: ReadableSpan) -> list[str]:
    """Every attribute value a span carries, its events' included."""
    found = [str(value) for value in (span.attributes or {}).values()]
    for event in span.events:
        found.extend(str(value) for value in (event.attributes or {}).values())
    return found


# 4: the request signals its workflow itself; 0: it only stores the event and the relay's queue
# signals it later, from another task, in the request's trace all the same.
@pytest.mark.parametrize("relay_inline", [4, 0], ids=["signalled-by-the-request", "queued-for-the-relay"])
async def test_one_trace_spans_the_api_the_relay_the_workflow_its_activities_and_the_provider_call(
    dev_env: WorkflowEnvironment, spans: InMemorySpanExporter, fakes: Fakes, tmp_path: Path, relay_inline: int
) -> None:
    store = Store(database_url("sqlite", tmp_path))
    await store.ensure_tenant("demo", "Demo clinic", "demo-key")
    # No quiet hours: the confirmation goes now, whatever the hour is in Moscow when this runs.
    await store.put_settings("demo", TenantSettings(quiet_hours=None))
    task_queue = f"tq-{uuid.uuid4()}"
    # Connected after tracing is on, like the API and the worker at their start (workflows/client.py).
    config = dev_env.client.config()
    config["interceptors"] = tracing.interceptors()
    client = Client(**config)
    adapters = build_adapters(fakes.config())
    app = create_app(Settings(task_queue=task_queue, relay_inline=relay_inline), store=store, temporal=client)
    appointment_id = f"trace-{uuid.uuid4().hex[:6]}"
    event = {
        "specversion": "1.0",
        "id": f"evt-{appointment_id}",
        "source": "/crm",
        "type": "appointment.confirmed",
        "subject": appointment_id,
        "tenant": "demo",
        "data": appointment(
            appointment_id, datetime.now(UTC) + timedelta(days=3), patient=patient(name=NAME, phone=PHONE)
        ),
    }
    try:
        async with (
            build_worker(client, store, task_queue, adapters=adapters),
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://nudgeflow") as api,
        ):
            response = await api.post("/v1/events", json=event, headers=KEY)
            assert response.status_code == 202, response.text
            deadline = time.monotonic() + 30
            while not [r for r in fakes.smsaero.requests if r["number"] == PHONE.lstrip("+")]:
                assert time.monotonic() < deadline, "the confirmation never reached SMS Aero"
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # the activity's and the workflow's spans end after the call
    finally:
        await close_adapters(adapters)
        await store.close()

    finished = spans.get_finished_spans()
    (request,) = [s for s in finished if s.name == "POST /v1/events"]
    assert request.context is not None
    trace_id = request.context.trace_id
    in_trace = [s for s in finished if s.context is not None and s.context.trace_id == trace_id]
    names = {s.name for s in in_trace}
    expected = {
        "relay event",
        "SignalWithStartWorkflow:AppointmentWorkflow",
        "RunWorkflow:AppointmentWorkflow",
        "RunActivity:send_message",
    }
    assert expected <= names, sorted(names)
    fake = httpx.URL(fakes.smsaero.url)
    provider_calls = [
        s
        for s in in_trace
        if s.kind.name == "CLIENT"
        and any(
            f"{fake.host}:{fake.port}" in str((s.attributes or {}).get(a)) for a in ("http.url", "url.full")
        )
    ]
    assert provider_calls, f"no httpx span to the fake SMS Aero in the trace: {sorted(names)}"

    secrets_and_people = [NAME, "Анна", "Петрова", PHONE, PHONE.lstrip("+"), "k" * 32]
    leaks: list[tuple[str, Any]] = [
        (s.name, value) for s in finished for value in values(s) for bad in secrets_and_people if bad in value
    ]
    assert leaks == [], "personal data or secrets in span attributes"


def test_urls_in_spans_lose_their_query_string_and_the_telegram_bot_token() -> None:
    assert tracing.scrub_url("https://api.telegram.org/bot123:SECRET/sendMessage?chat_id=42") == (
        "https://api.telegram.org/bot***/sendMessage"
    )
    assert tracing.scrub_url(
        "https://user:pw@gate.smsaero.ru:8443/v2/sms/send?number=79161234567&text=hi"
    ) == ("https://gate.smsaero.ru:8443/v2/sms/send")


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that keeps the paths it was posted to."""

    posted: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        Collector.posted.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_with_otel_exporter_otlp_endpoint_set_a_process_exports_its_spans_there() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    script = (
        "import tracing; from config import Settings; from opentelemetry import trace\n"
        "assert tracing.configure(Settings(), 'nudgeflow-test')\n"
        "with tracing.relaying({}, 'appointment.confirmed'): pass\n"
        "trace.get_tracer_provider().force_flush()\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint},
            capture_output=True,
            timeout=60,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr.decode()
    assert Collector.posted == ["/v1/traces"]
