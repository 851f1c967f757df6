"""The tenant's settings page: everyone signed in reads them, admins change them; every change is
validated like `PUT /v1/settings`, previewed on a sample visit and audited (who, when, before/after)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.staff.clock import clinic_clock
from api.staff.settings_form import FormError, from_form, preview, to_form
from api.staff.web import Csrf, CurrentUser, get_store, page, require_role, ui_language
from domain.contacts import Channel
from domain.settings import TenantSettings
from store.settings_audit import SettingsAudit
from store.staff import Role, StaffUser

router = APIRouter(prefix="/staff")


async def _page(
    request: Request,
    user: StaffUser,
    settings: TenantSettings,
    form: dict[str, Any],
    error: FormError | None = None,
    status_code: int = 200,
    saved: bool = False,
) -> HTMLResponse:
    store = get_store(request)
    today = datetime.now(UTC).astimezone(ZoneInfo(settings.timezone)).date()
    visit, lines = preview(settings, today, ui_language(request))
    return page(
        request,
        "settings.html",
        user,
        status_code=status_code,
        form=form,
        error=error,
        saved=saved,
        can_change=user.role.can(Role.ADMIN),
        channels=[c.value for c in Channel],
        visit=visit,
        preview_lines=lines,
        history=await SettingsAudit(store.engine).history(user.tenant),
        clock=await clinic_clock(store, user.tenant),
    )


@router.get("/settings", response_class=HTMLResponse)
async def show_settings(request: Request, user: CurrentUser, saved: str = "") -> HTMLResponse:
    settings = await get_store(request).get_settings(user.tenant)
    return await _page(request, user, settings, to_form(settings), saved=bool(saved))


@router.post("/settings", dependencies=[Csrf], response_model=None)
async def change_settings(request: Request, user: CurrentUser) -> HTMLResponse | RedirectResponse:
    """`action=preview` shows what the typed values would do; `action=save` (admins) stores them."""
    store = get_store(request)
    current = await store.get_settings(user.tenant)
    form = {name: value for name, value in (await request.form()).items() if name != "csrf_token"}
    saving = form.get("action") == "save"
    if saving:
        require_role(user, Role.ADMIN)
    try:
        wanted = from_form(form, current)
    except FormError as error:
        return await _page(request, user, current, form, error=error, status_code=422)
    if not saving:
        return await _page(request, user, wanted, form)
    await SettingsAudit(store.engine).change(user.tenant, wanted, user.email)
    relay = getattr(request.app.state, "relay", None)
    if relay is not None:
        relay.forget_settings(user.tenant)  # lifecycles starting from now take the new settings
    return RedirectResponse("/staff/settings?saved=1", status_code=303)
