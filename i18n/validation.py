"""Checks a staff-edited variant before saving: syntax, unknown names, escapes, SMS and WhatsApp limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any, Literal

from jinja2 import TemplateSyntaxError, meta, nodes
from pydantic import BaseModel, Field

from domain.sms import count_sms
from i18n.filters import LOCALE_VAR, TZ_VAR
from i18n.render import (
    TEXT_FIELDS,
    RenderedMessage,
    TemplateNotFound,
    TemplateOverride,
    TemplateRenderer,
    TemplateRenderError,
)
from i18n.samples import sample_context
from i18n.sandbox import BudgetExceeded, make_environment

PREVIEW_ZONES = {"ru": "Europe/Moscow", "de": "Europe/Berlin", "en": "Europe/London"}
WHATSAPP_BODY_LIMIT = 1024  # characters in an approved template's body
SMS_SEGMENTS_WARNING = 3


class Finding(BaseModel):
    severity: Literal["error", "warning"] = "error"
    field: str
    message: str
    line: int | None = None


class VariantCheck(BaseModel):
    """What the editor shows next to a draft: findings, the preview, and the channel's counters."""

    findings: list[Finding] = Field(default_factory=list)
    preview: RenderedMessage | None = None
    sms: dict[str, Any] | None = None  # domain.sms.SmsCount as a dict, plus `left_in_segment`
    whatsapp_parameters: int | None = None
    # The draft ran past the renderer's budget (time or size): the editor answers 422.
    over_budget: bool = False

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


def _static_findings(name: str, source: str, known: set[str]) -> list[Finding]:
    env = make_environment(autoescape=name == "html")
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return [Finding(field=name, line=exc.lineno, message=f"syntax error: {exc.message}")]
    found: list[Finding] = []
    for unknown in sorted(meta.find_undeclared_variables(tree) - known):
        line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == unknown), None)
        found.append(Finding(field=name, line=line, message=f"unknown variable {unknown!r}"))
    # The sandbox refuses these at render time too; refusing on save also covers untaken branches.
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        attr = (
            node.attr
            if isinstance(node, nodes.Getattr)
            else getattr(getattr(node, "arg", None), "value", None)
        )
        if isinstance(attr, str) and attr.startswith("_"):
            found.append(
                Finding(field=name, line=node.lineno, message=f"not allowed in a template: {attr!r}")
            )
    for ref in tree.find_all(nodes.Name):
        if ref.name == "self":  # Jinja's reference to the template object itself
            found.append(Finding(field=name, line=ref.lineno, message="not allowed in a template: 'self'"))
    for flt in tree.find_all(nodes.Filter):
        if flt.name == "attr":
            found.append(Finding(field=name, line=flt.lineno, message="not allowed in a template: 'attr'"))
    return sorted(found, key=lambda f: f.line or 0)


def whatsapp_parameters(source: str) -> int:
    """How many `{{ … }}` values a WhatsApp body fills in: an approved template's parameter count."""
    tree = make_environment(autoescape=False).parse(source)
    return sum(
        1
        for output in tree.find_all(nodes.Output)
        for part in output.nodes
        if not isinstance(part, nodes.TemplateData)
    )


def check_variant(
    renderer: TemplateRenderer,
    key: str,
    locale: str,
    channel: str,
    fields: Mapping[str, Any],
    *,
    published: Sequence[TemplateOverride] = (),
    preview_locale: str | None = None,
    preview_channel: str | None = None,
) -> VariantCheck:
    """Validate the draft of `key`/`locale`/`channel` and render a preview with sample data.

    The preview may be for another recipient locale or channel (the draft takes part when the
    fallback chain reaches it); `published` are the tenant's other live variants.
    """
    preview_locale = preview_locale or locale
    preview_channel = preview_channel or channel
    timezone = PREVIEW_ZONES.get(preview_locale.split("-")[0], "Europe/London")
    try:
        context = sample_context(key, locale=preview_locale, timezone=timezone)
    except KeyError:
        return VariantCheck(findings=[Finding(field="-", message=f"no sample data for {key!r} yet")])
    known = {*context, LOCALE_VAR, TZ_VAR}
    check = VariantCheck()
    for name in TEXT_FIELDS:
        if isinstance(fields.get(name), str):
            check.findings += _static_findings(name, fields[name], known)
    for i, text in enumerate(fields.get("buttons", [])):
        check.findings += _static_findings(f"buttons[{i}]", str(text), known)
    if channel == "whatsapp" and isinstance(fields.get("body"), str) and not check.errors:
        check.whatsapp_parameters = whatsapp_parameters(fields["body"])
        if len(fields["body"]) > WHATSAPP_BODY_LIMIT:
            check.findings.append(
                Finding(field="body", message="a WhatsApp body is limited to 1024 characters")
            )
    if check.errors:
        return check
    draft = TemplateOverride(locale=locale, channel=channel, fields=dict(fields))
    others = [o for o in published if (o.locale, o.channel) != (locale, channel)]
    try:
        check.preview = renderer.render(
            key,
            locale=preview_locale,
            channel=preview_channel,
            context=context,
            timezone=timezone,
            overrides=[*others, draft],
        )
    except TemplateRenderError as exc:
        check.findings.append(Finding(field=exc.variant, line=exc.line, message=exc.message))
        check.over_budget = isinstance(exc.__cause__, BudgetExceeded)
        return check
    except TemplateNotFound as exc:
        check.findings.append(Finding(field="-", message=str(exc)))
        return check
    if preview_channel == "sms":
        count = count_sms(check.preview.body)
        check.sms = {**asdict(count), "left_in_segment": count.left_in_segment}
        if count.segments > SMS_SEGMENTS_WARNING:
            check.findings.append(
                Finding(severity="warning", field="body", message=f"{count.segments} SMS segments: costly")
            )
    return check
