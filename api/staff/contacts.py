"""Contacts: find one, see its channels (Telegram chat, WhatsApp window, dead addresses and why),
edit it with the API's validation, clear an address staff know works again."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from api.staff.clock import clinic_clock
from api.staff.deliveries import console
from api.staff.template_guide import template_names
from api.staff.web import Csrf, CurrentUser, get_store, gettext, page, require_role
from domain.contacts import Channel, Contact
from store.consent import Ledger
from store.console import LogFilter
from store.contact_channels import ContactChannels
from store.staff import Role, StaffUser

router = APIRouter(prefix="/staff")
EDITABLE = ("name", "phone", "email", "locale", "timezone", "telegram_chat_id")


def channels(request: Request) -> ContactChannels:
    return ContactChannels(get_store(request).engine)


@router.get("/contacts", response_class=HTMLResponse)
async def contact_list(request: Request, user: CurrentUser, q: str = "") -> HTMLResponse:
    found = await channels(request).search(user.tenant, q)
    return page(request, "contacts.html", user, contacts=found, q=q)


async def _card(
    request: Request, user: StaffUser, contact_id: str, error: str = "", form: dict[str, Any] | None = None
) -> HTMLResponse:
    found = await channels(request).card(user.tenant, contact_id)
    if found is None:
        return page(request, "message.html", user, status_code=404, message=f"no contact {contact_id!r}")
    card, dead = found
    recent = await console(request).search_deliveries(user.tenant, LogFilter(contact_id=contact_id, limit=20))
    consents = await Ledger(get_store(request).engine).consents(user.tenant, contact_id)
    return page(
        request,
        "contact.html",
        user,
        status_code=422 if error else 200,
        card=card,
        dead=dead,
        recent=recent[:20],
        clock=await clinic_clock(get_store(request), user.tenant),
        form=form or card.data,
        error=error,
        channels=[c.value for c in Channel if c is not Channel.OUTBOX],
        names=template_names(gettext(request)),
        consents=list(reversed(consents)),
    )


@router.get("/contacts/{contact_id}", response_class=HTMLResponse)
async def contact(request: Request, user: CurrentUser, contact_id: str) -> HTMLResponse:
    return await _card(request, user, contact_id)


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


@router.post("/contacts/{contact_id}", dependencies=[Csrf], response_model=None)
async def edit_contact(
    request: Request, user: CurrentUser, contact_id: str
) -> HTMLResponse | RedirectResponse:
    """The same validation as `PUT /v1/contacts/{id}`: what the model refuses is shown, not stored."""
    require_role(user, Role.EDITOR)
    stored = await get_store(request).get_contact(user.tenant, contact_id)
    if stored is None:
        return page(request, "message.html", user, status_code=404, message=f"no contact {contact_id!r}")
    form = await request.form()
    typed = {name: str(form.get(name) or "").strip() for name in EDITABLE}
    data = stored.model_dump(mode="json") | {name: value or None for name, value in typed.items()}
    data |= {
        "name": typed["name"],
        "locale": typed["locale"],
        "timezone": typed["timezone"],
        "whatsapp": form.get("whatsapp") == "1",
        "preferred_channels": _list(str(form.get("preferred_channels") or "")),
        "opted_out": _list(str(form.get("opted_out") or "")),
    }
    try:
        contact = Contact.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        error = f"{where}: {str(first['msg']).removeprefix('Value error, ')}"
        return await _card(request, user, contact_id, error=error, form=data)
    await channels(request).save(user.tenant, contact)
    return RedirectResponse(f"/staff/contacts/{contact_id}", status_code=303)


@router.post("/contacts/{contact_id}/dead", dependencies=[Csrf])
async def clear_dead_address(
    request: Request, user: CurrentUser, contact_id: str, address: Annotated[str, Form(max_length=500)]
) -> RedirectResponse:
    require_role(user, Role.EDITOR)
    await channels(request).clear_dead_address(user.tenant, contact_id, address)
    return RedirectResponse(f"/staff/contacts/{contact_id}", status_code=303)
