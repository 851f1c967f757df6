"""Backend authentication: `Authorization: Bearer <tenant API key>` resolves the tenant."""

from __future__ import annotations

import hashlib
import time
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import Problem
from store import Store

# Resolved keys are remembered briefly: one lookup per key a minute, not one per event.
# A revoked key therefore stops working within this long.
KEY_CACHE_SECONDS = 60.0
# Publishes the scheme in the OpenAPI schema (and Swagger's Authorize button); the answer to a
# missing or malformed header stays ours, a 401 problem, not FastAPI's.
BEARER = HTTPBearer(auto_error=False, description="the tenant's API key")


async def get_store(request: Request) -> Store:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request.
    store: Store = request.app.state.store
    return store


async def tenant(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
) -> str:
    key = credentials.credentials if credentials else ""
    if not key.strip():
        raise Problem(401, "Unauthorized", "send the tenant API key as 'Authorization: Bearer <key>'")
    cache: dict[str, tuple[str, float]] = request.app.state.key_cache
    digest = hashlib.sha256(key.strip().encode()).hexdigest()
    hit = cache.get(digest)
    if hit is not None and hit[1] > time.monotonic():
        return hit[0]
    store: Store = request.app.state.store
    found = await store.tenant_for_api_key(key.strip())
    if found is None:
        raise Problem(401, "Unauthorized", "the API key is not valid")
    cache[digest] = (found, time.monotonic() + KEY_CACHE_SECONDS)
    return found


Tenant = Annotated[str, Depends(tenant)]
StoreDep = Annotated[Store, Depends(get_store)]
