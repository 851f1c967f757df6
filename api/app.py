"""The FastAPI app: one factory for `uvicorn --factory`, the tests and the benchmarks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from api import events, health, resources, timeline
from api.problems import Problem, problem_handler
from config import Settings, get_settings
from store import Store
from workflows.client import connect


def create_app(
    settings: Settings | None = None, store: Store | None = None, temporal: Client | None = None
) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store is None
        app.state.store = store or Store(settings.database_url)
        app.state.temporal = temporal or await connect(settings)
        await app.state.store.ensure_tenant("demo", "Demo clinic", settings.demo_api_key)
        yield
        if own_store:
            await app.state.store.close()

    app = FastAPI(title="nudgeflow", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.add_exception_handler(Problem, problem_handler)
    for module in (events, resources, timeline, health):
        app.include_router(module.router)
    return app
