"""RFC 9457 problem details: every 4xx names what was wrong, never a stack trace or SQL."""

from __future__ import annotations

import logging
import sqlite3
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_TYPE = "https://nudgeflow.dev/problems/"
# Seconds a client is asked to wait when the store is away: a restart or a failover takes this order.
STORE_RETRY_AFTER = 5
STORE_OUTAGES: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout)
SQLITE_OUTAGES = ("database is locked", "unable to open database file", "disk I/O error")

log = logging.getLogger(__name__)


class FieldError(BaseModel):
    field: str
    message: str


class ProblemDetails(BaseModel):
    """A problem's body as it is sent and published (api/openapi.py): `detail` and `errors` when said."""

    type: str
    title: str
    status: int
    detail: str = ""
    errors: list[FieldError] = []


class Problem(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        errors: list[FieldError] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(title)
        self.status, self.title, self.detail = status, title, detail
        self.errors = errors or []
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        slug = self.title.lower().replace(" ", "-")
        details = ProblemDetails(
            type=PROBLEM_TYPE + slug,
            title=self.title,
            status=self.status,
            detail=self.detail,
            errors=self.errors,
        )
        return details.model_dump(exclude_defaults=True)


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    errors = []
    for error in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in error["loc"])
        field = f"{prefix}.{path}" if prefix and path else prefix or path
        errors.append(FieldError(field=field, message=error["msg"]))
    return errors


async def problem_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(
        exc.body(), status_code=exc.status, media_type="application/problem+json", headers=headers
    )


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's and FastAPI's own 4xx (an unknown path, a wrong method, a body that is not UTF-8)."""
    assert isinstance(exc, StarletteHTTPException)
    try:
        title = HTTPStatus(exc.status_code).phrase.capitalize()  # "Method not allowed"
    except ValueError:
        title = "Error"
    response = await problem_handler(request, Problem(exc.status_code, title, str(exc.detail)))
    response.headers.update(exc.headers or {})  # Allow on a 405
    return response


async def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database refused, dropped or timed out a connection: a 503 to retry, not a 500 to report.

    Only connection-level errors come here (OperationalError, InterfaceError, the pool's timeout);
    a constraint violation or a bad statement is a bug and stays a 500. SQLite reports its bugs as
    OperationalError too ("no such table"): only a locked, unopenable or failing file is an outage.
    """
    if isinstance(getattr(exc, "orig", None), sqlite3.Error) and not any(
        sign in str(exc) for sign in SQLITE_OUTAGES
    ):
        raise exc  # a bug: internal_error answers it
    log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc.__class__.__name__)
    detail = "the database does not answer: retry the request later"
    return await problem_handler(
        request, Problem(503, "Store unavailable", detail, retry_after=STORE_RETRY_AFTER)
    )


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Anything unforeseen: a 500 problem with no stack trace or SQL in it (the log has them)."""
    detail = "the server failed on this request and logged why; retrying may not help"
    return await problem_handler(request, Problem(500, "Internal error", detail))
