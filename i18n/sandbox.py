"""The Jinja sandbox staff-edited templates run in, and where in a template a failure happened."""

from __future__ import annotations

import functools
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

from i18n.filters import FILTERS, TESTS

# A template may repeat a short string (a divider), never build megabytes or huge numbers.
MAX_REPEAT = 10_000
MAX_EXPONENT = 64
MAX_RANGE = 10_000


@dataclass(frozen=True)
class RenderBudget:
    """What one message may cost: wall time and characters of any value it builds or outputs.

    Checked from inside the template as it runs (every call, macro, filter, operator, `range` step,
    namespace assignment and output chunk), so a runaway template stops itself with BudgetExceeded
    in whatever thread renders it.
    """

    seconds: float = 2.0
    max_chars: int = 64_000


class BudgetExceeded(SecurityError):
    """A template went over its RenderBudget: too slow, or building too much text."""


_current = threading.local()


@contextmanager
def spending(budget: RenderBudget) -> Iterator[None]:
    """Everything rendered in this thread inside the block shares one budget."""
    outer = getattr(_current, "limits", None)
    if outer is not None:  # a render inside a render spends the outer one's budget
        yield
        return
    _current.limits = (time.monotonic() + budget.seconds, budget)
    try:
        yield
    finally:
        _current.limits = None


def charge(value: Any = None) -> Any:
    """Raise BudgetExceeded once the time is spent or `value` is text longer than allowed."""
    limits = getattr(_current, "limits", None)
    if limits is None:
        return value
    deadline, budget = limits
    if time.monotonic() > deadline:
        raise BudgetExceeded(f"rendering took longer than {budget.seconds:g} s")
    if isinstance(value, str) and len(value) > budget.max_chars:
        raise BudgetExceeded(f"the text would be longer than {budget.max_chars} characters")
    return value


def _charged(function: Callable[..., Any]) -> Callable[..., Any]:
    # The filtered value comes after the context or environment a pass_* filter is handed first.
    value_at = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(function)  # keeps jinja_pass_arg: pass_context filters stay what they were
    def run(*args: Any, **kwargs: Any) -> Any:
        charge()
        # A width or count beyond any message (`center(10**9)`) is refused before it allocates;
        # the value itself (an invoice of 150,000) is data.
        options = (*args[value_at + 1 :], *kwargs.values())
        if any(isinstance(a, int) and not isinstance(a, bool) and a > MAX_REPEAT for a in options):
            raise SecurityError(f"a filter argument over {MAX_REPEAT} is too large for a message template")
        return charge(function(*args, **kwargs))

    return run


def _range(*args: int) -> Iterator[int]:
    steps = range(*args)
    if len(steps) > MAX_RANGE:
        raise SecurityError(f"range of {len(steps)} steps is too long for a message template")
    for step in steps:
        charge()
        yield step


class _Namespace(Namespace):
    """`namespace()` whose assignments are charged: no doubling a string in a loop to gigabytes."""

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, charge(value))


class MessageSandbox(ImmutableSandboxedEnvironment):
    """No attribute escapes or mutation (Jinja's sandbox), bounded `*` / `**` / `+`, strict
    undefined, and every call and operator charged to the render's budget."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        charge()
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is too large for a message template")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > MAX_REPEAT:
                    raise SecurityError("repeating a sequence that many times is not allowed")
        return charge(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # Every macro and function call: a recursive macro runs out of time here, not of patience.
        charge()
        for value in (*args, *kwargs.values()):
            charge(value)
        return charge(super().call(__context, __obj, *args, **kwargs))


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
    env.globals = {"range": _range, "dict": env.globals["dict"], "namespace": _Namespace}
    env.filters.update(FILTERS)
    env.filters = {name: _charged(function) for name, function in env.filters.items()}
    env.tests.update(TESTS)
    return env


def render_within(template: Any, values: Any) -> str:
    """The template's output, chunk by chunk, charged to the current budget as it grows."""
    limits = getattr(_current, "limits", None)
    most = limits[1].max_chars if limits is not None else None
    out: list[str] = []
    size = 0
    for chunk in template.generate(values):
        charge()
        size += len(chunk)
        if most is not None and size > most:
            raise BudgetExceeded(f"the text would be longer than {most} characters")
        out.append(chunk)
    return "".join(out)


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
