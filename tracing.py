"""OpenTelemetry: one trace from `POST /v1/events` through the relay, the workflow, its activities and
the provider's HTTP call, exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set.

Spans carry no personal data: the API's and httpx's spans keep a URL's path without its query string
(SMS Aero's number and text, Twilio's `To`, callback secrets ride there) and without the Telegram bot
token in it; Temporal's spans name workflows and activities by id, never their arguments.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context, propagate, trace
from temporalio.client import Interceptor

from config import Settings

# The attributes, old and stable HTTP conventions both, that hold a URL or its query string.
_URL_ATTRIBUTES = ("http.url", "url.full")
_TARGET_ATTRIBUTES = ("http.target",)
_QUERY_ATTRIBUTES = ("url.query",)
_BOT_TOKEN = re.compile(r"/bot[^/]+")
# The provider this process traces with; None: tracing is off (OTEL_EXPORTER_OTLP_ENDPOINT unset).
_provider: trace.TracerProvider | None = None


def configure(settings: Settings, service_name: str) -> bool:
    """Export spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set; whether tracing is on.

    OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS and the rest are read by the SDK itself.
    """
    if _provider is not None or not settings.otlp_endpoint:
        return _provider is not None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    # As the SDK reads the variable itself: the base URL of a collector, traces under /v1/traces.
    exporter = OTLPSpanExporter(endpoint=f"{settings.otlp_endpoint.rstrip('/')}/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    install(provider)
    return True


def install(provider: trace.TracerProvider) -> None:
    """Trace with `provider` from now on: Temporal clients connected afterwards, apps instrumented
    afterwards, and every httpx call (the provider adapters), its URL scrubbed."""
    global _provider
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    _provider = provider
    instrumentor = HTTPXClientInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(
        tracer_provider=provider, request_hook=_scrub_client_span, async_request_hook=_scrub_client_async
    )


def uninstall() -> None:
    """Stop tracing (tests): httpx is left as it was found."""
    global _provider
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    _provider = None
    HTTPXClientInstrumentor().uninstrument()


def active() -> bool:
    return _provider is not None


def tracer() -> trace.Tracer:
    return (_provider or trace.get_tracer_provider()).get_tracer("nudgeflow")


def interceptors() -> list[Interceptor]:
    """Temporal's tracing interceptor for a client (a worker built on it uses it too), when tracing."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(tracer())]


def instrument_app(app: Any) -> None:
    """Server spans for the API's requests, when tracing; probes and scrapes are left out."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        server_request_hook=_scrub_server_span,
        exclude_spans=["receive", "send"],
        excluded_urls="/healthz,/readyz,/metrics",
    )


def carrier() -> dict[str, str]:
    """The current trace context as W3C headers: an event queued for the relay keeps its trace."""
    headers: dict[str, str] = {}
    if _provider is not None:
        propagate.inject(headers)
    return headers


@contextmanager
def relaying(headers: Mapping[str, str], event_type: str) -> Iterator[None]:
    """A span for the relay's signal, in the trace of the request that accepted the event."""
    if _provider is None:
        yield
        return
    token = context.attach(propagate.extract(dict(headers))) if headers else None
    try:
        with tracer().start_as_current_span(
            "relay event", kind=trace.SpanKind.PRODUCER, attributes={"cloudevents.event_type": event_type}
        ):
            yield
    finally:
        if token is not None:
            context.detach(token)


def scrub_url(url: str) -> str:
    """A URL without its query string, fragment, credentials or Telegram bot token."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{_BOT_TOKEN.sub('/bot***', parts.path)}"


def _scrub(span: Any, url: str) -> None:
    if not span.is_recording():
        return
    clean = scrub_url(url)
    path = urlsplit(clean).path
    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        if name in attributes:
            span.set_attribute(name, clean)
    for name in _TARGET_ATTRIBUTES:
        if name in attributes:
            span.set_attribute(name, path)
    for name in _QUERY_ATTRIBUTES:
        if name in attributes:
            span.set_attribute(name, "")
    if "url.path" in attributes:
        span.set_attribute("url.path", path)


def _scrub_client_span(span: Any, request: Any) -> None:
    _scrub(span, str(request.url))


async def _scrub_client_async(span: Any, request: Any) -> None:
    _scrub(span, str(request.url))


def _scrub_server_span(span: Any, scope: dict[str, Any]) -> None:
    server = scope.get("server") or ("localhost", None)
    host = f"{server[0]}:{server[1]}" if server[1] else str(server[0])
    _scrub(span, f"{scope.get('scheme', 'http')}://{host}{scope.get('path', '')}")
