"""Connecting to Temporal the same way from the API, the worker and the tests."""

from __future__ import annotations

import dataclasses
import logging

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

import tracing
from config import Settings
from workflows.codec import EncryptionCodec

log = logging.getLogger(__name__)
_runtimes: dict[str, Runtime] = {}


def sdk_metrics_runtime(settings: Settings) -> Runtime | None:
    """A runtime serving the Temporal SDK's own metrics (task slots, schedule-to-start latency,
    sticky cache) for Prometheus on NUDGEFLOW_TEMPORAL_METRICS_PORT; None when off or the port is taken.

    One per address and process: a runtime binds its port for good, so it is made once.
    """
    if not settings.temporal_metrics_port:
        return None
    address = f"{settings.worker_metrics_host}:{settings.temporal_metrics_port}"
    if address not in _runtimes:
        config = PrometheusConfig(bind_address=address, counters_total_suffix=True, durations_as_seconds=True)
        try:
            _runtimes[address] = Runtime(telemetry=TelemetryConfig(metrics=config))
        except Exception as exc:  # another worker on this host holds the port: run without them
            log.warning("Temporal SDK metrics off: cannot serve them on %s (%s)", address, exc)
            return None
    return _runtimes[address]


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic payloads, encrypted with the settings' payload keys (workflows/codec.py); failures'
    messages and stack traces are moved into an encoded attribute, so they are encrypted too."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(settings.payload_keyring()),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client; `runtime` serves the SDK's metrics (the worker's), and with OTEL_EXPORTER_OTLP_ENDPOINT
    set it traces every start, signal, workflow and activity (a worker built on it inherits that)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=True if settings.temporal_tls else None if settings.temporal_api_key else False,
        data_converter=data_converter(settings),
        interceptors=tracing.interceptors(),
        runtime=runtime,
    )
