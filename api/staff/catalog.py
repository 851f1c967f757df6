"""The template catalog staff see: every key, channel and locale, from the files and the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from fastapi import HTTPException
from pydantic import BaseModel

from api.staff.template_guide import LIFECYCLES, lifecycle_of
from domain.contacts import Channel
from i18n import TemplateOverride, TemplateRenderer, locale_chain, normalize_tag
from store.templates import TemplateVersion

CHANNELS = ("default", *(c.value for c in Channel if c is not Channel.OUTBOX))
FORM_FIELDS = ("subject", "title", "body", "html")


class Cell(BaseModel):
    state: Literal["published", "draft", "file", "fallback", "missing"]
    version: int | None = None


class Row(BaseModel):
    key: str
    lifecycle: str
    channel: str
    cells: dict[str, Cell]


def overview(
    renderer: TemplateRenderer, latest: Sequence[TemplateVersion], published: Sequence[TemplateVersion]
) -> tuple[list[Row], list[str]]:
    """One row per key and channel variant, one cell per locale; `missing`: no text in that language."""
    files = renderer.available()
    locales = sorted({loc for found in files.values() for loc in found} | {v.locale for v in latest})
    live = {(v.key, v.locale, v.channel): v for v in published}
    drafts = {(v.key, v.locale, v.channel): v for v in latest if v.published_at is None}
    variants: dict[str, set[str]] = {}
    for key, found in files.items():
        for loc in found:
            variants.setdefault(key, set()).update(renderer.file_tables(key, loc))
    for v in (*latest, *published):
        variants.setdefault(v.key, set()).add(v.channel)
    rows = []
    for key in sorted(variants, key=lambda k: (LIFECYCLES.index(lifecycle_of(k)), k)):
        for channel in sorted(variants[key], key=lambda c: (c != "default", c)):
            cells = {}
            for loc in locales:
                where = (key, loc, channel)
                tables = renderer.file_tables(key, loc)
                if where in drafts and (where not in live or drafts[where].id > live[where].id):
                    cells[loc] = Cell(state="draft", version=drafts[where].version)
                elif where in live:
                    cells[loc] = Cell(state="published", version=live[where].version)
                elif channel in tables:
                    cells[loc] = Cell(state="file")
                elif "default" in tables or (key, loc, "default") in live:
                    cells[loc] = Cell(state="fallback")
                else:
                    cells[loc] = Cell(state="missing")
            rows.append(Row(key=key, lifecycle=lifecycle_of(key), channel=channel, cells=cells))
    return rows, locales


def check_variant_path(renderer: TemplateRenderer, key: str, locale: str, channel: str) -> str:
    """The normalised locale, or 404 for a key, locale or channel the UI does not know."""
    try:
        tag = normalize_tag(locale)
    except ValueError:
        raise HTTPException(404, f"not a locale: {locale!r}") from None
    if key not in renderer.available() or channel not in CHANNELS:
        raise HTTPException(404, f"no template {key!r} with a {channel!r} variant")
    return tag


def starting_fields(
    renderer: TemplateRenderer,
    key: str,
    locale: str,
    channel: str,
    history: Sequence[TemplateVersion],
    published: Sequence[TemplateVersion],
) -> tuple[dict[str, Any], str]:
    """What the editor opens with, and where it came from: the newest version, else what would be sent."""
    if history:
        return dict(history[0].fields), f"v{history[0].version}"
    live = {(v.locale, v.channel): v for v in published if v.key == key}
    for candidate in locale_chain(locale, "en"):
        tables = renderer.file_tables(key, candidate)
        for variant in (channel, "default"):
            if (candidate, variant) in live:
                return dict(live[(candidate, variant)].fields), f"{candidate} published [{variant}]"
            if variant in tables:
                return dict(tables[variant]), f"{candidate}.toml [{variant}]"
    return {"body": ""}, "empty"


def fields_from_form(form: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in FORM_FIELDS:
        text = str(form.get(name) or "").replace("\r\n", "\n").strip("\n")
        if text.strip() or name == "body":
            fields[name] = text
    buttons = [line.strip() for line in str(form.get("buttons") or "").splitlines() if line.strip()]
    if buttons:
        fields["buttons"] = buttons
    return fields


def as_overrides(published: Sequence[TemplateVersion]) -> list[TemplateOverride]:
    return [TemplateOverride(v.locale, v.channel, v.fields, v.id) for v in published]
