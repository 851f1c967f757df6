"""Signing staff in and out: argon2-checked passwords, a fresh session (and CSRF token) per sign-in.

Sign-in is throttled twice: per account in the store (store/staff.py: 5 wrong passwords in a row
lock it for 15 minutes) and per client address in this process (LoginThrottle: 20 attempts in 15
minutes, forgiven by a successful one). Signing out ends every session of the user, this cookie
and any copy of it.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.staff.web import Csrf, get_store, gettext, page
from store.staff import StaffLocked
from store.tables import utcnow

router = APIRouter(prefix="/staff")


class LoginThrottle:
    """At most `limit` sign-in attempts per client address in `window` seconds, in this process.

    Counted before the password is checked, so a flood costs no hashing; at most `addresses`
    addresses are remembered (the oldest forgotten first).
    """

    def __init__(self, limit: int = 20, window: float = 15 * 60, addresses: int = 10_000) -> None:
        self.limit, self.window, self.addresses = limit, window, addresses
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()

    def admit(self, address: str, now: float | None = None) -> float | None:
        """Record an attempt; None when it may go on, else the seconds until the next may."""
        now = time.monotonic() if now is None else now
        attempts = self._attempts.pop(address, None) or deque()
        while attempts and attempts[0] <= now - self.window:
            attempts.popleft()
        self._attempts[address] = attempts
        while len(self._attempts) > self.addresses:
            self._attempts.popitem(last=False)
        if len(attempts) >= self.limit:
            return attempts[0] + self.window - now
        attempts.append(now)
        return None

    def forgive(self, address: str) -> None:
        self._attempts.pop(address, None)


def _client(request: Request) -> str:
    # Behind a reverse proxy, uvicorn's --proxy-headers (trusted --forwarded-allow-ips) sets this.
    return request.client.host if request.client else "unknown"


def _too_many(request: Request, email: str, seconds: float) -> HTMLResponse:
    minutes = max(1, math.ceil(seconds / 60))
    error = gettext(request).gettext("Too many sign-in attempts. Try again in %(minutes)d min.") % {
        "minutes": minutes
    }
    answer = page(request, "login.html", status_code=429, error=error, email=email)
    answer.headers["Retry-After"] = str(max(1, math.ceil(seconds)))
    return answer


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> HTMLResponse:
    return page(request, "login.html")


@router.post("/login", dependencies=[Csrf], response_model=None)
async def login(
    request: Request, email: Annotated[str, Form()], password: Annotated[str, Form()]
) -> HTMLResponse | RedirectResponse:
    throttle: LoginThrottle = request.app.state.login_throttle
    wait = throttle.admit(_client(request))
    if wait is not None:
        return _too_many(request, email, wait)
    try:
        user = await get_store(request).authenticate_staff(email, password)
    except StaffLocked as locked:
        return _too_many(request, email, (locked.until - utcnow()).total_seconds())
    if user is None:
        error = gettext(request).gettext("Wrong email or password.")
        return page(request, "login.html", status_code=401, error=error, email=email)
    throttle.forgive(_client(request))
    lang = request.session.get("lang")
    request.session.clear()  # a new session on sign-in: nothing planted before it survives
    request.session.update(
        {"user_id": user.id, "generation": user.session_generation, **({"lang": lang} if lang else {})}
    )
    return RedirectResponse("/staff/templates", status_code=303)


@router.post("/logout", dependencies=[Csrf])
async def logout(request: Request) -> RedirectResponse:
    user_id = request.session.get("user_id")
    user = await get_store(request).get_staff(user_id) if isinstance(user_id, int) else None
    # The cookie is signed, not stored: only a new generation makes a copy of it worthless. A
    # session already over (an old copy) ends nobody else's.
    if user is not None and request.session.get("generation", 0) == user.session_generation:
        await get_store(request).end_staff_sessions(user.id)
    request.session.clear()
    return RedirectResponse("/staff/login", status_code=303)


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/staff/templates", status_code=303)
