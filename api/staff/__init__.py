"""The staff UI at /staff/: sign-in, the template list and editor, history, errors, staff users."""

from __future__ import annotations

import os
import secrets

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from api.staff import admin, auth, deliveries, editor
from api.staff.web import HERE, NotSignedIn
from i18n import TemplateRenderer
from store import Store
from store.staff import Role

SESSION_HOURS = 12


async def _to_login(request: Request, exc: Exception) -> RedirectResponse:
    return RedirectResponse("/staff/login", status_code=303)


def mount(app: FastAPI, renderer: TemplateRenderer | None = None) -> None:
    # A per-process secret signs out everyone on restart: fine on a laptop, set the variable in production.
    secret = os.environ.get("NUDGEFLOW_SECRET_KEY") or secrets.token_urlsafe(32)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie="nudgeflow_staff",
        max_age=SESSION_HOURS * 3600,
        same_site="strict",
        https_only=os.environ.get("NUDGEFLOW_SECURE_COOKIES", "").lower() == "true",
    )
    app.state.staff_renderer = renderer or TemplateRenderer()
    app.add_exception_handler(NotSignedIn, _to_login)
    app.mount("/staff/static", StaticFiles(directory=HERE / "static"), name="staff-static")
    for module in (auth, editor, admin, deliveries):
        app.include_router(module.router)


async def ensure_demo_staff(store: Store) -> None:
    """The demo tenant's admin, like the demo tenant itself: from the environment, with dev defaults."""
    email = os.environ.get("NUDGEFLOW_DEMO_STAFF_EMAIL", "admin@demo.local")
    password = os.environ.get("NUDGEFLOW_DEMO_STAFF_PASSWORD", "demo-password")
    await store.ensure_staff(email, "demo", Role.ADMIN, password)
