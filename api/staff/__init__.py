"""The staff UI at /staff/: sign-in, the template list and editor, history, errors, staff users."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.staff import (
    admin,
    auth,
    contacts,
    dashboard,
    deliveries,
    editor,
    queues,
    tenant_settings,
    timelines,
)
from api.staff.auth import LoginThrottle
from api.staff.web import HERE, NotSignedIn
from config import InsecureConfiguration, Settings
from i18n import TemplateRenderer
from store import Store
from store.staff import Role

SESSION_HOURS = 12


async def _to_login(request: Request, exc: Exception) -> RedirectResponse:
    return RedirectResponse("/staff/login", status_code=303)


def mount(app: FastAPI, renderer: TemplateRenderer | None = None) -> None:
    settings: Settings = app.state.settings
    app.add_middleware(
        SessionMiddleware,
        # NUDGEFLOW_SECRET_KEY; in development a per-install secret (sessions survive a restart).
        secret_key=settings.session_secret(),
        session_cookie="nudgeflow_staff",
        max_age=SESSION_HOURS * 3600,
        same_site="strict",
        # Outside development the cookie never travels over plain HTTP.
        https_only=settings.production or settings.secure_cookies,
    )
    app.add_middleware(StaffHeaders)
    app.state.login_throttle = LoginThrottle()
    app.state.staff_renderer = renderer or TemplateRenderer()
    app.add_exception_handler(NotSignedIn, _to_login)
    app.mount("/staff/static", StaticFiles(directory=HERE / "static"), name="staff-static")
    for module in (auth, editor, admin, dashboard, deliveries, timelines, queues, contacts, tenant_settings):
        app.include_router(module.router)


async def ensure_demo_staff(store: Store, settings: Settings) -> None:
    """The demo tenant's admin (development only), created once: a changed password stays changed."""
    password = settings.demo_staff_password.get_secret_value()
    await store.ensure_staff(settings.demo_staff_email, "demo", Role.ADMIN, password, replace=False)


async def refuse_demo_credentials(store: Store, settings: Settings) -> None:
    """Production never serves with the demo's published credentials, say in a database that began
    as a development one: the `demo-key` API key or the demo admin's `demo-password`."""
    found = []
    if await store.tenant_for_api_key("demo-key") is not None:
        found.append("a tenant answers to the API key demo-key")
    if await store.staff_password_is(settings.demo_staff_email, "demo-password"):
        found.append(f"staff user {settings.demo_staff_email} has the password demo-password")
    if found:
        raise InsecureConfiguration(
            "nudgeflow: NUDGEFLOW_ENV=production refuses to start: the store still holds the demo's "
            "credentials (" + "; ".join(found) + "): change or remove them first"
        )


# Staff pages run no inline script and are never framed: an injected tag runs nothing, a hostile
# page cannot overlay them (clickjacking), and a browser never guesses a type from the content.
STAFF_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class StaffHeaders:
    """Adds STAFF_HEADERS to every answer under /staff (pure ASGI: no buffering of bodies)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/staff"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in STAFF_HEADERS.items():
                    if name == "cache-control" and str(scope["path"]).startswith("/staff/static"):
                        continue  # the stylesheet and script may be cached
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)
