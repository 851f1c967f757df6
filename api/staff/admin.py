"""Admin pages: template errors met at send time, and the tenant's staff users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.staff.web import Csrf, CurrentUser, get_store, gettext, page, require
from store.staff import Role, StaffExists, StaffUser

router = APIRouter(prefix="/staff")
Admin = Annotated[StaffUser, require(Role.ADMIN)]
MIN_PASSWORD = 10


@router.get("/errors", response_class=HTMLResponse)
async def template_errors(request: Request, user: CurrentUser) -> HTMLResponse:
    errors = await get_store(request).template_errors(user.tenant, limit=200)
    return page(request, "errors.html", user, errors=errors)


@router.get("/users", response_class=HTMLResponse)
async def staff_users(request: Request, user: Admin) -> HTMLResponse:
    return page(request, "users.html", user, users=await get_store(request).list_staff(user.tenant))


@router.post("/users", dependencies=[Csrf], response_model=None)
async def add_staff_user(
    request: Request,
    user: Admin,
    email: Annotated[str, Form()],
    role: Annotated[Role, Form()],
    password: Annotated[str, Form()],
) -> HTMLResponse | RedirectResponse:
    store = get_store(request)
    t = gettext(request)
    error = None
    if len(password) < MIN_PASSWORD:
        error = t.gettext("The password needs at least 10 characters.")
    else:
        try:
            await store.create_staff(email, user.tenant, role, password)
        except StaffExists:
            error = t.gettext("A staff user with this email already exists.")
    if error:
        users = await store.list_staff(user.tenant)
        return page(request, "users.html", user, status_code=422, users=users, error=error)
    return RedirectResponse("/staff/users", status_code=303)
