"""Connecting to Temporal the same way from the API, the worker and the tests."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from config import Settings


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=True if settings.temporal_tls else None if settings.temporal_api_key else False,
        data_converter=pydantic_data_converter,
    )
