"""Liveness (`/healthz`), readiness (`/readyz`) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from temporalio.client import Client

from api.openapi import problems
from api.problems import Problem
from store import Store

router = APIRouter()

# Each dependency gets this long to answer: an orchestrator probes every few seconds, and a store
# that takes longer than this to run `SELECT 1` is not serving requests either.
PROBE_TIMEOUT = 2.0
# What /readyz asks a client to wait before it probes again, when something is down.
RETRY_AFTER = 5


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up; says nothing of the store or Temporal (that is /readyz)."""
    return {"status": "ok"}


@router.get("/readyz", responses=problems(503))
async def readyz(request: Request) -> dict[str, str]:
    """200 when the store and Temporal both answer within PROBE_TIMEOUT, else 503 naming what is down."""
    store_up, temporal_up = await asyncio.gather(
        _store_answers(request.app.state.store), _temporal_answers(request.app.state.temporal)
    )
    down = [name for name, up in (("store", store_up), ("temporal", temporal_up)) if not up]
    if down:
        detail = f"not answering within {PROBE_TIMEOUT:g} s: {', '.join(down)}"
        raise Problem(503, "Not ready", detail, retry_after=RETRY_AFTER)
    return {"status": "ready", "store": "ok", "temporal": "ok"}


async def _store_answers(store: Store) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT), store.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:  # any failure, a timeout included, means "not ready"
        return False
    return True


async def _temporal_answers(client: Client) -> bool:
    try:
        return await client.service_client.check_health(timeout=timedelta(seconds=PROBE_TIMEOUT))
    except Exception:  # any failure, an unreachable server included, means "not ready"
        return False


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
