"""What every staff page shares: the signed-cookie session, CSRF, the signed-in user, gettext, rendering."""

from __future__ import annotations

import hmac
import secrets
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from babel.support import NullTranslations, Translations
from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from i18n import TemplateRenderer
from store import Store
from store.staff import Role, StaffUser

HERE = Path(__file__).resolve().parent
LOCALES_DIR = HERE.parent.parent / "i18n" / "locales"
UI_LANGUAGES = ("en", "ru")

pages = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)


class NotSignedIn(Exception):
    """A staff page was asked for without a session: the handler redirects to the login page."""


@cache
def translations(language: str) -> NullTranslations:
    # Compiled .mo files come from `make install`; without them the UI falls back to English.
    return Translations.load(str(LOCALES_DIR), [language], "messages")


def ui_language(request: Request) -> str:
    chosen = request.query_params.get("lang")
    if chosen in UI_LANGUAGES:
        request.session["lang"] = chosen
    if request.session.get("lang") in UI_LANGUAGES:
        return str(request.session["lang"])
    header = request.headers.get("accept-language", "")
    wanted = [part.split(";")[0].strip().split("-")[0].lower() for part in header.split(",")]
    return next((lang for lang in wanted if lang in UI_LANGUAGES), "en")


def gettext(request: Request) -> NullTranslations:
    return translations(ui_language(request))


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Every form POST carries the session's token; a cross-site form cannot know it."""
    form = await request.form()
    sent = form.get("csrf_token") or request.headers.get("x-csrf-token") or ""
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_renderer(request: Request) -> TemplateRenderer:
    renderer: TemplateRenderer = request.app.state.staff_renderer
    return renderer


async def current_user(request: Request) -> StaffUser:
    user_id = request.session.get("user_id")
    user = await get_store(request).get_staff(int(user_id)) if isinstance(user_id, int) else None
    # A session from before the user's last sign-out carries an old generation: it is over.
    if user is None or request.session.get("generation", 0) != user.session_generation:
        raise NotSignedIn
    return user


def require_role(user: StaffUser, role: Role) -> None:
    if not user.role.can(role):
        raise HTTPException(403, f"this needs the {role.value} role")


def require(role: Role) -> Any:
    """A dependency: the signed-in user, or 403 without `role` (or a role above it)."""

    async def check(user: Annotated[StaffUser, Depends(current_user)]) -> StaffUser:
        require_role(user, role)
        return user

    return Depends(check)


def page(
    request: Request, name: str, user: StaffUser | None = None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    t = gettext(request)
    html = pages.get_template(name).render(
        request=request,
        user=user,
        csrf_token=csrf_token(request),
        lang=ui_language(request),
        gettext=t.gettext,
        ngettext=t.ngettext,
        _=t.gettext,
        Role=Role,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


CurrentUser = Annotated[StaffUser, Depends(current_user)]
Csrf = Depends(check_csrf)
