"""Backend authentication: `Authorization: Bearer <tenant API key>` resolves the tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.problems import Problem
from store import Store


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def tenant(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise Problem(401, "Unauthorized", "send the tenant API key as 'Authorization: Bearer <key>'")
    found = await get_store(request).tenant_for_api_key(key.strip())
    if found is None:
        raise Problem(401, "Unauthorized", "the API key is not valid")
    return found


Tenant = Annotated[str, Depends(tenant)]
StoreDep = Annotated[Store, Depends(get_store)]
