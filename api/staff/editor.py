"""Template pages: the list marking missing translations, the editor with live preview, history, diff."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.staff.catalog import (
    CHANNELS,
    Row,
    as_overrides,
    check_variant_path,
    fields_from_form,
    overview,
    starting_fields,
)
from api.staff.template_guide import GUIDE, LIFECYCLES
from api.staff.web import Csrf, CurrentUser, get_renderer, get_store, gettext, page, require, require_role
from i18n import TemplateRenderer
from i18n.render import TemplateOverride
from i18n.validation import Finding, VariantCheck, check_variant
from store.staff import Role, StaffUser
from store.templates import UnknownTemplateVersion, diff
from store.whatsapp_templates import TemplateStatusRecord, WhatsAppTemplates

router = APIRouter(prefix="/staff")
Publisher = Annotated[StaffUser, require(Role.PUBLISHER)]
# Drafts render in worker threads, two at a time, never on the event loop: a draft that runs long
# stops itself at the renderer's budget (i18n/sandbox.py), and the page stops waiting a second after.
_checking = anyio.CapacityLimiter(2)
GRACE_S = 1.0


async def check_off_loop(
    renderer: TemplateRenderer,
    key: str,
    locale: str,
    channel: str,
    fields: dict[str, Any],
    published: Sequence[TemplateOverride],
    **preview: str,
) -> VariantCheck:
    """check_variant in a worker thread; a draft still running past its budget is a finding."""
    run = functools.partial(
        check_variant, renderer, key, locale, channel, fields, published=published, **preview
    )
    with anyio.move_on_after(renderer.budget.seconds + GRACE_S):
        return await anyio.to_thread.run_sync(run, abandon_on_cancel=True, limiter=_checking)
    message = f"not allowed in a template: rendering took longer than {renderer.budget.seconds:g} s"
    return VariantCheck(findings=[Finding(field="body", message=message)], over_budget=True)


@router.get("/templates", response_class=HTMLResponse)
async def template_list(
    request: Request, user: CurrentUser, lifecycle: str = "", locale: str = "", channel: str = ""
) -> HTMLResponse:
    store = get_store(request)
    latest = await store.latest_templates(user.tenant)
    rows, locales = overview(get_renderer(request), latest, await store.published_templates(user.tenant))
    shown = [
        row
        for row in rows
        if lifecycle in ("", row.lifecycle)
        and channel in ("", row.channel)
        and (not locale or locale in row.cells)
    ]
    errors = await store.template_errors(user.tenant, limit=5)
    filters = {"lifecycle": lifecycle, "locale": locale, "channel": channel}
    settings, t = await store.get_settings(user.tenant), gettext(request)
    groups: dict[str, dict[str, list[Row]]] = {name: {} for name in LIFECYCLES}
    order = list(GUIDE)  # the guide lists each lifecycle's templates in the order they go out
    for row in sorted(shown, key=lambda r: order.index(r.key) if r.key in GUIDE else len(order)):
        groups.setdefault(row.lifecycle, {}).setdefault(row.key, []).append(row)
    about = {
        key: {"name": t.gettext(g.name), "when": g.when(settings, t), "audience": g.audience}
        for key, g in GUIDE.items()
    }
    # Meta's review of each WhatsApp template, per language (synced, or set by staff).
    whatsapp: dict[str, list[TemplateStatusRecord]] = {}
    for record in await WhatsAppTemplates(store.engine).list(user.tenant):
        whatsapp.setdefault(record.template, []).append(record)
    return page(
        request,
        "list.html",
        user,
        rows=shown,
        groups={name: keys for name, keys in groups.items() if keys},
        about=about,
        locales=[locale] if locale in locales else locales,
        all_locales=locales,
        lifecycles=LIFECYCLES,
        channels=CHANNELS,
        filters=filters,
        recent_errors=errors,
        whatsapp=whatsapp,
    )


async def _editor(
    request: Request,
    user: StaffUser,
    key: str,
    locale: str,
    channel: str,
    fields: dict[str, Any] | None = None,
    check: VariantCheck | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    store, renderer = get_store(request), get_renderer(request)
    history = await store.template_history(user.tenant, key, locale, channel)
    published = await store.published_templates(user.tenant, key)
    start, source = starting_fields(renderer, key, locale, channel, history, published)
    fields = fields if fields is not None else start
    if check is None:
        check = check_variant(renderer, key, locale, channel, fields, published=as_overrides(published))
    live = next((v for v in published if (v.locale, v.channel) == (locale, channel)), None)
    return page(
        request,
        "editor.html",
        user,
        status_code=status_code,
        key=key,
        locale=locale,
        channel=channel,
        fields=fields,
        source=source,
        check=check,
        live=live,
        history=history[:5],
        locales=sorted({*renderer.available().get(key, []), locale}),
        channels=CHANNELS,
        refused=status_code == 422,
    )


@router.get("/templates/{key}/{locale}/{channel}", response_class=HTMLResponse)
async def edit(request: Request, user: CurrentUser, key: str, locale: str, channel: str) -> HTMLResponse:
    locale = check_variant_path(get_renderer(request), key, locale, channel)
    return await _editor(request, user, key, locale, channel)


@router.post("/templates/{key}/{locale}/{channel}", dependencies=[Csrf], response_model=None)
async def save(
    request: Request, user: CurrentUser, key: str, locale: str, channel: str
) -> HTMLResponse | RedirectResponse:
    """Save a draft (`action=save`) or save and publish it (`action=publish`, publishers only)."""
    require_role(user, Role.EDITOR)
    renderer, store = get_renderer(request), get_store(request)
    locale = check_variant_path(renderer, key, locale, channel)
    form = await request.form()
    publishing = form.get("action") == "publish"
    if publishing:
        require_role(user, Role.PUBLISHER)
    fields = fields_from_form(form)
    published = as_overrides(await store.published_templates(user.tenant, key))
    check = await check_off_loop(renderer, key, locale, channel, fields, published)
    if check.errors:
        return await _editor(request, user, key, locale, channel, fields, check, status_code=422)
    history = await store.template_history(user.tenant, key, locale, channel)
    if history and history[0].fields == fields:
        version = history[0]  # nothing changed since the newest version: publish that one
    else:
        version = await store.save_template_draft(user.tenant, key, locale, channel, fields, user.email)
    if publishing:
        await store.publish_template(user.tenant, version.id, user.email)
    return RedirectResponse(request.url.path, status_code=303)


@router.post("/preview", dependencies=[Csrf], response_class=HTMLResponse)
async def preview(request: Request, user: CurrentUser) -> HTMLResponse:
    """The live preview: the unsaved draft rendered with sample data, in any locale and channel."""
    renderer, store = get_renderer(request), get_store(request)
    form = await request.form()
    key, locale, channel = (str(form.get(name, "")) for name in ("key", "locale", "channel"))
    locale = check_variant_path(renderer, key, locale, channel)
    preview_locale = check_variant_path(renderer, key, str(form.get("preview_locale") or locale), channel)
    preview_channel = str(form.get("preview_channel") or channel)
    if preview_channel not in CHANNELS:
        preview_channel = channel
    check = await check_off_loop(
        renderer,
        key,
        locale,
        channel,
        fields_from_form(form),
        as_overrides(await store.published_templates(user.tenant, key)),
        preview_locale=preview_locale,
        preview_channel=preview_channel,
    )
    # A draft over its budget is refused outright (422), the reason shown in the preview pane.
    return page(request, "preview.html", user, status_code=422 if check.over_budget else 200, check=check)


@router.get("/templates/{key}/{locale}/{channel}/history", response_class=HTMLResponse)
async def history(request: Request, user: CurrentUser, key: str, locale: str, channel: str) -> HTMLResponse:
    locale = check_variant_path(get_renderer(request), key, locale, channel)
    versions = await get_store(request).template_history(user.tenant, key, locale, channel)
    return page(request, "history.html", user, key=key, locale=locale, channel=channel, versions=versions)


@router.get("/versions/{version_id}/diff", response_class=HTMLResponse)
async def version_diff(request: Request, user: CurrentUser, version_id: int) -> HTMLResponse:
    """This version against the one before it, or against the file default for the first."""
    store = get_store(request)
    try:
        new = await store.template_version(user.tenant, version_id)
    except UnknownTemplateVersion:
        return page(request, "message.html", user, status_code=404, message=f"no version {version_id}")
    versions = await store.template_history(user.tenant, new.key, new.locale, new.channel)
    older = [v for v in versions if v.version < new.version]
    if older:
        lines = diff(older[0], new)
    else:
        tables = get_renderer(request).file_tables(new.key, new.locale)
        lines = diff(tables.get(new.channel, tables.get("default", {})), new, "file default")
    return page(request, "diff.html", user, version=new, lines=lines)


@router.post("/versions/{version_id}/{action}", dependencies=[Csrf], response_model=None)
async def publish_or_rollback(
    request: Request, user: Publisher, version_id: int, action: str
) -> RedirectResponse | HTMLResponse:
    store = get_store(request)
    try:
        if action == "publish":
            version = await store.publish_template(user.tenant, version_id, user.email)
        elif action == "rollback":
            version = await store.rollback_template(user.tenant, version_id, user.email)
        else:
            return page(request, "message.html", user, status_code=404, message=f"no action {action!r}")
    except UnknownTemplateVersion:
        return page(request, "message.html", user, status_code=404, message=f"no version {version_id}")
    where = f"/staff/templates/{version.key}/{version.locale}/{version.channel}/history"
    return RedirectResponse(where, status_code=303)
