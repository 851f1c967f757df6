"""Email over SMTP (aiosmtplib): HTML and text alternatives, with the .ics invite attached."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage

import aiosmtplib

from channels.base import OutgoingMessage, ProviderUnavailable, RecipientUnreachable, SendError, SendReceipt

PROVIDER = "smtp"
# Failures before the server could take the message.
NOT_SENT_ERRORS = (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError)
# The conversation broke off: the server may have queued it before we heard its answer.
MAYBE_SENT_ERRORS = (
    aiosmtplib.SMTPReadTimeoutError,
    aiosmtplib.SMTPServerDisconnected,
    aiosmtplib.SMTPTimeoutError,
)


def classify(address: str, code: int, text: str) -> SendError:
    """RFC 5321: 4xx is try again later, 5xx is final; 530/535 are our credentials, not the address."""
    if code < 500:
        return ProviderUnavailable(f"smtp {code}: {text}", provider=PROVIDER)
    if code in (530, 535):
        return RecipientUnreachable(f"smtp {code}: authentication failed", provider=PROVIDER)
    return RecipientUnreachable(f"smtp {code}: {text}", address=address, provider=PROVIDER)


def build_email(message: OutgoingMessage, sender: str, domain: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient.email or ""
    email["Subject"] = message.subject or message.title or ""
    # The same Message-ID on every attempt of one delivery: a mailbox drops the copy a retry after
    # an unknown outcome may make (make_msgid would add the time and a random part).
    digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:32]
    email["Message-ID"] = f"<{digest}@{domain}>"
    email.set_content(message.body)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    for attachment in message.attachments:
        maintype, _, rest = attachment.content_type.partition("/")
        subtype, _, parameter = rest.partition(";")
        # text/calendar keeps its `method=REQUEST` parameter: calendar clients read it.
        key, _, value = parameter.strip().partition("=")
        email.add_attachment(
            attachment.content.encode(),
            maintype=maintype,
            subtype=subtype.strip(),
            filename=attachment.filename,
            params={key: value} if key else {},
        )
    return email


class EmailAdapter:
    provider = PROVIDER
    supports_attachments = True

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool | None = None,
        use_tls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.start_tls, self.use_tls, self.timeout = start_tls, use_tls, timeout

    async def aclose(self) -> None:
        return None

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        address = message.recipient.email
        if not address:
            raise RecipientUnreachable("email: the contact has no address", provider=PROVIDER)
        email = build_email(message, self.sender, self.sender.rpartition("@")[2] or "nudgeflow")
        try:
            await aiosmtplib.send(
                email,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                start_tls=self.start_tls,
                use_tls=self.use_tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            raise classify(address, refused.code, refused.message) from exc
        except NOT_SENT_ERRORS as exc:
            raise ProviderUnavailable(f"smtp: {type(exc).__name__}", provider=PROVIDER) from exc
        except MAYBE_SENT_ERRORS as exc:
            raise ProviderUnavailable(
                f"smtp: {type(exc).__name__}", provider=PROVIDER, maybe_sent=True
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise classify(address, exc.code, exc.message) from exc
        return SendReceipt(provider=PROVIDER, provider_message_id=str(email["Message-ID"]))
