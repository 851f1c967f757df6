"""Renders a template key for one recipient: locale fallback, channel variant, sandboxed Jinja, Babel."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Template
from pydantic import BaseModel, Field

from domain.contacts import check_timezone
from i18n.filters import LOCALE_VAR, TZ_VAR
from i18n.locales import language_of, locale_chain, normalize_tag
from i18n.sandbox import RenderBudget, describe, error_line, make_environment, render_within, spending

TEMPLATES_ROOT = Path(__file__).resolve().parent.parent / "message_templates"
DEFAULT_VARIANT = "default"
TEXT_FIELDS = ("subject", "title", "body", "html")
_KEY = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_LEFTOVERS = ("{{", "}}", "{%", "%}")
MAX_PUBLISHED_CACHED = 2_000
# Characters Babel puts in times and numbers ("10:00\u202fAM", "1\xa0500") that would push an
# otherwise GSM-7 SMS into UCS-2 and halve its length.
_SMS_SPACES = str.maketrans({"\u202f": " ", "\u00a0": " "})


class RenderedMessage(BaseModel):
    template: str
    locale: str  # the template file's locale after fallback
    variant: str  # the channel table used: "sms", or "default" when the channel has none
    subject: str | None = None
    title: str | None = None
    body: str
    html: str | None = None
    buttons: list[str] = Field(default_factory=list)
    version_id: int | None = None  # the published version from the store, None for the file
    notice: str | None = None  # why a published version was passed over for the file default


@dataclass(frozen=True)
class TemplateOverride:
    """A tenant's published variant: replaces the file's table of the same locale and channel.

    `version_id` keys the compiled-template cache (a published version never changes); None means an
    unsaved draft (the editor's preview), compiled afresh every time.
    """

    locale: str
    channel: str
    fields: Mapping[str, Any]
    version_id: int | None = None


class TemplateNotFound(LookupError):
    """No file along the locale chain has a variant for the channel or a `[default]` one."""


class TemplateRenderError(Exception):
    """The template exists but cannot produce a whole message; `str()` is one line for staff."""

    def __init__(
        self,
        message: str,
        *,
        template: str,
        locale: str,
        variant: str,
        line: int | None = None,
        version_id: int | None = None,
    ) -> None:
        source = f"{locale}.toml" if version_id is None else f"{locale} published #{version_id}"
        where = f"{template}/{source} [{variant}]" + (f" line {line}" if line else "")
        super().__init__(f"{where}: {message}")
        self.template = template
        self.locale = locale
        self.variant = variant
        self.line = line
        self.version_id = version_id
        self.message = message


@dataclass
class _File:
    stamp: tuple[int, int]  # (mtime_ns, size): an edit on disk makes a new stamp
    tables: dict[str, Any]
    version_id: int | None = None  # set when the tables come from the store, not from a file
    compiled: dict[tuple[str, str], Template] = field(default_factory=dict)


class TemplateRenderer:
    """Renders `message_templates/<key>/<locale>.toml`; each field compiles once per file version."""

    def __init__(self, root: Path = TEMPLATES_ROOT, budget: RenderBudget | None = None) -> None:
        self.root = root
        # One message, all its fields and any fallback, within this budget (i18n/sandbox.py).
        self.budget = budget or RenderBudget()
        self.compile_count = 0
        self._text_env = make_environment(autoescape=False)
        self._html_env = make_environment(autoescape=True)
        self._files: dict[Path, _File] = {}
        self._published: dict[int, _File] = {}

    def available(self) -> dict[str, list[str]]:
        """Template key -> the locales that have a file for it."""
        found: dict[str, list[str]] = {}
        for path in sorted(self.root.glob("*/*.toml")):
            found.setdefault(path.parent.name, []).append(path.stem)
        return found

    def file_tables(self, key: str, locale: str) -> dict[str, Any]:
        """The channel tables of `message_templates/<key>/<locale>.toml`, empty when there is no file."""
        path = self.root / key / f"{normalize_tag(locale)}.toml"
        if not _KEY.match(key) or not path.is_file():
            return {}
        return self._load(key, locale, path).tables

    def render(
        self,
        key: str,
        *,
        locale: str,
        channel: str,
        context: Mapping[str, Any],
        timezone: str,
        default_locale: str = "en",
        overrides: Sequence[TemplateOverride] = (),
    ) -> RenderedMessage:
        """The whole message; `overrides` (the tenant's published variants) win over the files.

        Within the renderer's budget: a template that runs too long or builds too much text raises
        TemplateRenderError (its `version_id` says whether the file default can stand in).
        """
        with spending(self.budget):
            return self._render(key, locale, channel, context, timezone, default_locale, overrides)

    def _render(
        self,
        key: str,
        locale: str,
        channel: str,
        context: Mapping[str, Any],
        timezone: str,
        default_locale: str,
        overrides: Sequence[TemplateOverride],
    ) -> RenderedMessage:
        if not _KEY.match(key):
            raise TemplateNotFound(f"not a template key: {key!r}")
        check_timezone(timezone)
        published = {(normalize_tag(o.locale), o.channel): o for o in overrides}
        chain = locale_chain(locale, default_locale)
        used, variant, loaded = self._find(key, chain, str(channel), published)
        table = loaded.tables[variant]
        # Dates follow the recipient's own locale (en-US: 12-hour) when the text is in their language.
        fmt_locale = normalize_tag(locale) if language_of(locale) == language_of(used) else used
        values = {**context, LOCALE_VAR: fmt_locale, TZ_VAR: timezone}
        out: dict[str, str] = {}
        for name in TEXT_FIELDS:
            if name in table:
                out[name] = self._render_field(key, used, loaded, variant, name, table[name], values)
        buttons = [
            self._render_field(key, used, loaded, variant, f"buttons[{i}]", text, values)
            for i, text in enumerate(table.get("buttons", []))
        ]
        if str(channel) == "sms":
            out = {name: text.translate(_SMS_SPACES) for name, text in out.items()}
        for name in ("subject", "title"):
            if name in out:
                out[name] = " ".join(out[name].split())  # one line: no header injection
        return RenderedMessage(
            template=key,
            locale=used,
            variant=variant,
            subject=out.get("subject"),
            title=out.get("title"),
            body=out["body"],
            html=out.get("html"),
            buttons=buttons,
            version_id=loaded.version_id,
        )

    def _find(
        self, key: str, chain: list[str], channel: str, published: Mapping[tuple[str, str], TemplateOverride]
    ) -> tuple[str, str, _File]:
        for candidate in chain:
            path = self.root / key / f"{candidate}.toml"
            loaded = self._load(key, candidate, path) if path.is_file() else None
            for variant in (channel, DEFAULT_VARIANT):
                override = published.get((candidate, variant))
                if override is not None:
                    return candidate, variant, self._load_override(key, override, variant)
                if loaded is not None and variant in loaded.tables:
                    return candidate, variant, loaded
        raise TemplateNotFound(f"no template {key!r} for channel {channel!r} in any of {chain}")

    def _load_override(self, key: str, override: TemplateOverride, variant: str) -> _File:
        cached = self._published.get(override.version_id) if override.version_id is not None else None
        if cached is not None:
            return cached
        table = dict(override.fields)
        problem = _table_problem(table)
        if problem:
            raise TemplateRenderError(
                problem, template=key, locale=override.locale, variant=variant, version_id=override.version_id
            )
        loaded = _File(stamp=(0, 0), tables={variant: table}, version_id=override.version_id)
        if override.version_id is not None:
            if len(self._published) >= MAX_PUBLISHED_CACHED:
                self._published.clear()  # rare: a whole cache of versions; recompiling is cheap enough
            self._published[override.version_id] = loaded
        return loaded

    def _load(self, key: str, locale: str, path: Path) -> _File:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._files.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached
        try:
            tables = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            line = re.search(r"line (\d+)", str(exc))
            raise TemplateRenderError(
                f"not valid TOML: {exc}",
                template=key,
                locale=locale,
                variant="-",
                line=int(line.group(1)) if line else None,
            ) from None
        for variant, table in tables.items():
            problem = _table_problem(table)
            if problem:
                raise TemplateRenderError(problem, template=key, locale=locale, variant=variant)
        loaded = _File(stamp=stamp, tables=tables)
        self._files[path] = loaded
        return loaded

    def _render_field(
        self,
        key: str,
        locale: str,
        loaded: _File,
        variant: str,
        name: str,
        source: str,
        values: Mapping[str, Any],
    ) -> str:
        filename = f"<{key}/{locale}.toml [{variant}] {name}>"
        try:
            template = loaded.compiled.get((variant, name))
            if template is None:
                env = self._html_env if name == "html" else self._text_env
                code = env.compile(source, name=filename, filename=filename)
                template = env.template_class.from_code(env, code, env.make_globals(None))
                loaded.compiled[(variant, name)] = template
                self.compile_count += 1
            text = render_within(template, values).strip()
        except Exception as exc:
            raise TemplateRenderError(
                f"{name}: {describe(exc)}",
                template=key,
                locale=locale,
                variant=variant,
                line=error_line(exc, filename),
                version_id=loaded.version_id,
            ) from exc
        leftover = next((mark for mark in _LEFTOVERS if mark in text), None)
        if leftover and _from_template(leftover, template, values):
            raise TemplateRenderError(
                f"{name}: output still contains {leftover!r}",
                template=key,
                locale=locale,
                variant=variant,
                version_id=loaded.version_id,
            )
        return text


def _from_template(mark: str, template: Template, values: Mapping[str, Any]) -> bool:
    """Whether a marker in the output is the template's own text, half-rendered, not a value's:
    a patient named "{{ Anna }}" is data and goes out as written."""
    try:
        return mark in render_within(template, _defused(values))
    except Exception:
        return True


def _defused(value: Any) -> Any:
    """The values with every template marker taken out of their text, to tell data from template."""
    if isinstance(value, str):
        for mark in _LEFTOVERS:
            value = value.replace(mark, "")
        return value
    if isinstance(value, Mapping):
        return {key: _defused(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_defused(item) for item in value]
    return value


def _table_problem(table: Any) -> str | None:
    """Why a channel table is unusable, or None: a string `body`, string fields, a list of buttons."""
    if not isinstance(table, dict):
        return "a variant must be a table such as [default] or [sms]"
    unknown = set(table) - {*TEXT_FIELDS, "buttons"}
    if unknown:
        return f"unknown fields {sorted(unknown)}; allowed: {[*TEXT_FIELDS, 'buttons']}"
    if not isinstance(table.get("body"), str):
        return "every variant needs a string `body`"
    if any(not isinstance(table[name], str) for name in TEXT_FIELDS if name in table):
        return "subject, title, body and html must be strings"
    buttons = table.get("buttons", [])
    if not isinstance(buttons, list) or any(not isinstance(b, str) for b in buttons):
        return "buttons must be a list of strings"
    return None
