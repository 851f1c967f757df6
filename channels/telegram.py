"""Telegram Bot API `sendMessage`, with "I'll come"/"I can't" as an inline keyboard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from channels.base import OutgoingMessage, ProviderUnavailable, RecipientUnreachable, SendError, SendReceipt
from channels.http import json_body, make_client, post, retry_after, unexpected
from channels.replies import BUTTON_TTL, button_data

PROVIDER = "telegram"

# (HTTP status, substring of `description`) -> the chat is dead for this bot. The Bot API says
# error codes may change, so the description decides, as python-telegram-bot does.
DEAD_CHAT: tuple[tuple[int, str], ...] = (
    (403, "bot was blocked by the user"),
    (403, "bot can't initiate conversation"),
    (403, "user is deactivated"),
    (403, "bot was kicked"),
    (403, "is not a member"),
    (403, "bot can't send messages to bots"),
    (400, "chat not found"),
    (400, "peer_id_invalid"),
    (400, "user not found"),
)


def classify(chat_id: str, response: httpx.Response) -> SendError | None:
    """None when sent; otherwise the error that says what to do next."""
    body = json_body(response)
    if response.status_code == 200 and body.get("ok") is True:
        return None
    description = str(body.get("description", "")).lower()
    parameters = body.get("parameters") or {}
    if response.status_code == 429 or "retry_after" in parameters:
        wait = retry_after(response, parameters.get("retry_after"))
        return ProviderUnavailable("telegram flood control", retry_after=wait, provider=PROVIDER)
    for status, text in DEAD_CHAT:
        if response.status_code == status and text in description:
            return RecipientUnreachable(f"telegram: {description}", address=chat_id, provider=PROVIDER)
    if response.status_code in (401, 404):
        # A bad or revoked bot token: every chat fails alike, so fall back without blaming the chat.
        return RecipientUnreachable("telegram: the bot token is not valid", provider=PROVIDER)
    return unexpected(PROVIDER, response)


class TelegramAdapter:
    provider = PROVIDER
    max_body = 4096
    supports_buttons = True

    def __init__(self, base_url: str, bot_token: str, reply_secret: str, *, timeout: float = 10.0) -> None:
        self.reply_secret = reply_secret
        self.client = make_client(timeout, base_url=f"{base_url.rstrip('/')}/bot{bot_token}")

    async def aclose(self) -> None:
        await self.client.aclose()

    def payload(self, message: OutgoingMessage) -> dict[str, Any]:
        chat_id = message.recipient.telegram_chat_id
        body: dict[str, Any] = {"chat_id": chat_id, "text": message.body[: self.max_body]}
        if message.buttons and message.delivery_id is not None:
            # A button answers this message only while it matters (an attendance answer until the visit).
            expires_at = message.expires_at or datetime.now(UTC) + BUTTON_TTL
            row = [
                {
                    "text": text,
                    "callback_data": button_data(message.delivery_id, i, self.reply_secret, expires_at),
                }
                for i, text in enumerate(message.buttons)
            ]
            body["reply_markup"] = {"inline_keyboard": [row]}
        return body

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        chat_id = message.recipient.telegram_chat_id
        if not chat_id:
            raise RecipientUnreachable("telegram: the contact has no linked chat", provider=PROVIDER)
        response = await post(self.client, PROVIDER, "/sendMessage", json=self.payload(message))
        error = classify(chat_id, response)
        if error is not None:
            raise error
        result = json_body(response)["result"]
        return SendReceipt(provider=PROVIDER, provider_message_id=f"{chat_id}:{result['message_id']}")

    async def answer_callback(self, callback_query_id: str, text: str) -> None:
        """Stop the client's progress bar; best effort, the answer is already recorded."""
        try:
            await self.client.post(
                "/answerCallbackQuery", json={"callback_query_id": callback_query_id, "text": text}
            )
        except httpx.HTTPError:
            pass
