"""A real SMTP server (aiosmtpd) with RCPT answers scripted per address."""

from __future__ import annotations

import asyncio
import email
from collections import defaultdict, deque
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.ports import free_port

REPLIES = {"unknown_user": "550 5.1.1 User unknown", "try_later": "451 4.3.0 Try again later"}


class FakeSmtp:
    def __init__(self, hang_seconds: float = 5.0) -> None:
        self.messages: list[Message] = []
        self.script: dict[str, deque[str]] = defaultdict(deque)
        self.hang_seconds = hang_seconds
        self.port = free_port()
        # Controller checks readiness by connecting, so the port must be a real one (not 0).
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def plan(self, address: str, *answers: str) -> None:
        self.script[address].extend(answers)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        queue = self.script.get(address)
        answer = queue.popleft() if queue else "ok"
        if answer == "hang":
            await asyncio.sleep(self.hang_seconds)
        elif answer != "ok":
            return REPLIES[answer]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def start(self) -> FakeSmtp:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
