"""The FastAPI app: one factory for `uvicorn --factory`, the tests and the benchmarks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client

import logs
import tracing
from api import (
    answers,
    calendar_link,
    channels,
    codec,
    events,
    health,
    inbound,
    reports,
    resources,
    retention,
    staff,
    timeline,
)
from api import whatsapp_templates as whatsapp_template_statuses
from api.problems import (
    STORE_OUTAGES,
    FieldError,
    Problem,
    http_error,
    internal_error,
    problem_handler,
    store_unavailable,
)
from api.relay import Relay
from config import Settings, get_settings
from store import Store
from workflows.client import connect


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(field=".".join(str(part) for part in error["loc"]), message=error["msg"])
        for error in exc.errors()
    ]
    return await problem_handler(
        request, Problem(422, "Invalid request", "fix the fields named below", errors)
    )


def create_app(
    settings: Settings | None = None, store: Store | None = None, temporal: Client | None = None
) -> FastAPI:
    settings = settings or get_settings()
    settings.check_production()  # no production process without its secrets
    logs.quiet_libraries()
    logs.strip_access_queries()  # SMS Aero's callback secret rides in the query string
    tracing.configure(settings, "nudgeflow-api")  # when OTEL_EXPORTER_OTLP_ENDPOINT is set

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store is None
        app.state.store = store or Store(settings.database_url)
        app.state.temporal = temporal or await connect(settings)
        if settings.production:
            await staff.refuse_demo_credentials(app.state.store, settings)
        else:
            # Development only, created once: never reset to the known values at a start.
            await app.state.store.ensure_tenant("demo", "Demo clinic", settings.demo_api_key, replace=False)
            await staff.ensure_demo_staff(app.state.store, settings)
        app.state.relay = Relay(
            app.state.temporal,
            settings.task_queue,
            app.state.store,
            inline=settings.relay_inline,
            concurrency=settings.relay_concurrency,
            most_senders=settings.relay_most_senders,
            task_timeout=timedelta(seconds=settings.workflow_task_timeout),
            lease=timedelta(seconds=settings.relay_lease),
            max_refusals=settings.relay_max_refusals,
        )
        background = [asyncio.create_task(app.state.relay.run())]
        if settings.payload_retention_days > 0:
            keep = timedelta(days=settings.payload_retention_days)
            background.append(asyncio.create_task(retention.purge_forever(app.state.store, keep)))
        # Meta's WhatsApp template statuses, hourly, when a business account is configured.
        background.append(asyncio.create_task(whatsapp_template_statuses.sync_forever(app)))
        yield
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await channels.close(app)
        if own_store:
            await app.state.store.close()

    app = FastAPI(title="nudgeflow", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.key_cache = {}
    app.add_exception_handler(Problem, problem_handler)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    for outage in STORE_OUTAGES:
        app.add_exception_handler(outage, store_unavailable)
    app.add_exception_handler(Exception, internal_error)
    for module in (events, resources, timeline, health, inbound, answers, calendar_link, reports):
        app.include_router(module.router)
    app.include_router(whatsapp_template_statuses.router)
    staff.mount(app)
    codec.mount(app, settings)  # the Temporal UI's decoder, for signed-in staff admins
    tracing.instrument_app(app)
    return app
