"""Message rendering: localized template files, the Jinja sandbox, and Babel formatting per recipient.

`TemplateRenderer.render("visit_reminder", locale="ru-RU", channel="sms", context=..., timezone=...)`
walks `ru-RU -> ru -> tenant default`, picks the channel's variant or `[default]`, and returns a whole
`RenderedMessage` or raises `TemplateNotFound` / `TemplateRenderError`; never half a message.
"""

from i18n.locales import locale_chain, normalize_tag
from i18n.render import (
    TEMPLATES_ROOT,
    RenderedMessage,
    TemplateNotFound,
    TemplateOverride,
    TemplateRenderer,
    TemplateRenderError,
)
from i18n.samples import TEMPLATE_KEYS, sample_context

__all__ = [
    "TEMPLATES_ROOT",
    "TEMPLATE_KEYS",
    "RenderedMessage",
    "TemplateNotFound",
    "TemplateOverride",
    "TemplateRenderError",
    "TemplateRenderer",
    "locale_chain",
    "normalize_tag",
    "sample_context",
]
