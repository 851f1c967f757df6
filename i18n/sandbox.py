"""The Jinja sandbox staff-edited templates run in, and where in a template a failure happened."""

from __future__ import annotations

import traceback
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from i18n.filters import FILTERS, TESTS

# A template may repeat a short string (a divider), never build megabytes or huge numbers.
MAX_REPEAT = 10_000
MAX_EXPONENT = 64


class MessageSandbox(ImmutableSandboxedEnvironment):
    """No attribute escapes or mutation (Jinja's sandbox), no unbounded `*` / `**`, strict undefined."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is too large for a message template")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > MAX_REPEAT:
                    raise SecurityError("repeating a sequence that many times is not allowed")
        return super().call_binop(context, operator, left, right)


def make_environment(*, autoescape: bool) -> MessageSandbox:
    """An environment for text fields (no escaping) or for the `html` field (escaping on)."""
    env = MessageSandbox(
        undefined=StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
        cache_size=0,
    )
    env.globals = {name: env.globals[name] for name in ("range", "dict", "namespace")}
    env.filters.update(FILTERS)
    env.tests.update(TESTS)
    return env


def error_line(exc: BaseException, filename: str) -> int | None:
    """The template line an exception points at, read from Jinja's rewritten traceback."""
    if isinstance(exc, TemplateSyntaxError):
        return exc.lineno
    line: int | None = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == filename:
            line = lineno
    return line


def describe(exc: BaseException) -> str:
    """One line for staff: what went wrong, never a stack trace."""
    if isinstance(exc, TemplateSyntaxError):
        return f"syntax error: {exc.message}"
    if isinstance(exc, SecurityError):
        return f"not allowed in a template: {exc}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
