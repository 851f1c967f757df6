"""The shared part of every fake provider: scripted answers, recorded requests, a loopback server.

Each fake runs its Starlette app under uvicorn in a thread of its own, so a hanging answer never
blocks the test's event loop (nor the time-skipping server's clients).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict, deque
from typing import Any, ClassVar

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response

from tests.ports import free_port

# name -> (HTTP status, JSON body, headers); every fake fills its own table from the provider's docs.
Answers = dict[str, tuple[int, Any, dict[str, str]]]
# Answers after which the provider has the message: on time (`ok`), after the client gave up
# (`accept_hang`), or behind a proxy that answered 502 (`accept_502`).
ACCEPTED = frozenset({"ok", "accept_hang", "accept_502"})


class FakeProvider:
    """Answers `ok` unless told otherwise: per recipient (`plan`) or for everyone (`outage`)."""

    answers: ClassVar[Answers] = {}

    def __init__(self, hang_seconds: float = 5.0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: dict[str, deque[str]] = defaultdict(deque)
        self.down: str | None = None
        self.hang_seconds = hang_seconds
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def plan(self, recipient: str, *answers: str) -> None:
        """The next answers for this recipient, in order; `ok` once they run out."""
        self.script[recipient].extend(answers)

    def outage(self, answer: str | None) -> None:
        """Answer everyone with `answer` (e.g. a 5xx) until called with None."""
        self.down = answer

    def next_answer(self, recipient: str) -> str:
        if self.down is not None:
            return self.down
        queue = self.script.get(recipient)
        return queue.popleft() if queue else "ok"

    def sent(self) -> list[dict[str, Any]]:
        """Requests the provider took: what reached the recipient, however late we heard of it."""
        return [r for r in self.requests if r.get("answer") in ACCEPTED]

    async def scripted(self, name: str) -> Response | None:
        """The canned response for `name`, or None when the provider takes the message (the fake
        builds that answer itself, then passes it through `accepted`)."""
        if name == "hang":
            await asyncio.sleep(self.hang_seconds)
            return None
        if name in ACCEPTED:
            return None
        status, body, headers = self.answers[name]
        return JSONResponse(body, status_code=status, headers=headers)

    async def accepted(self, name: str, response: Response) -> Response:
        """The answer to a request the provider took: at once, too late, or as a proxy's 502."""
        if name == "accept_hang":
            await asyncio.sleep(self.hang_seconds)
        elif name == "accept_502":
            return Response("<html><body>502 Bad Gateway</body></html>", 502, media_type="text/html")
        return response

    def app(self) -> Starlette:
        raise NotImplementedError

    def start(self) -> FakeProvider:
        port = free_port()
        config = uvicorn.Config(
            self.app(),
            host="127.0.0.1",
            port=port,
            log_level="error",
            lifespan="off",
            ws="none",
            http="h11",
            loop="asyncio",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
