"""RFC 9457 problem details: every 4xx names what was wrong, never a stack trace or SQL."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

PROBLEM_TYPE = "https://nudgeflow.dev/problems/"


class FieldError(BaseModel):
    field: str
    message: str


class Problem(Exception):
    def __init__(
        self, status: int, title: str, detail: str = "", errors: list[FieldError] | None = None
    ) -> None:
        super().__init__(title)
        self.status, self.title, self.detail = status, title, detail
        self.errors = errors or []

    def body(self) -> dict[str, Any]:
        slug = self.title.lower().replace(" ", "-")
        body: dict[str, Any] = {"type": PROBLEM_TYPE + slug, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = [error.model_dump() for error in self.errors]
        return body


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    errors = []
    for error in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in error["loc"])
        field = f"{prefix}.{path}" if prefix and path else prefix or path
        errors.append(FieldError(field=field, message=error["msg"]))
    return errors


async def problem_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(
        exc.body(), status_code=exc.status, media_type="application/problem+json", headers=headers
    )
