"""Signing staff in and out: argon2-checked passwords, a fresh session (and CSRF token) per sign-in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.staff.web import Csrf, get_store, gettext, page

router = APIRouter(prefix="/staff")


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> HTMLResponse:
    return page(request, "login.html")


@router.post("/login", dependencies=[Csrf], response_model=None)
async def login(
    request: Request, email: Annotated[str, Form()], password: Annotated[str, Form()]
) -> HTMLResponse | RedirectResponse:
    user = await get_store(request).authenticate_staff(email, password)
    if user is None:
        error = gettext(request).gettext("Wrong email or password.")
        return page(request, "login.html", status_code=401, error=error, email=email)
    lang = request.session.get("lang")
    request.session.clear()  # a new session on sign-in: nothing planted before it survives
    request.session.update({"user_id": user.id, **({"lang": lang} if lang else {})})
    return RedirectResponse("/staff/templates", status_code=303)


@router.post("/logout", dependencies=[Csrf])
async def logout(request: Request) -> RedirectResponse:
    request.session.clear()
    return RedirectResponse("/staff/login", status_code=303)


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/staff/templates", status_code=303)
