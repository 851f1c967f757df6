"""The HTTP side every provider adapter shares: one client, and transport trouble as transient."""

from __future__ import annotations

import ssl
from datetime import timedelta
from functools import cache
from typing import Any

import httpx

from channels.base import ProviderUnavailable, RecipientUnreachable, SendError


@cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi's roots, or SSL_CERT_FILE/SSL_CERT_DIR), made once:
    loading the CA bundle costs ~20 ms of CPU, and every adapter's client would load it again."""
    return httpx.create_ssl_context()


def make_client(timeout: float, **kwargs: Any) -> httpx.AsyncClient:
    kwargs.setdefault("verify", tls_context())
    # Connecting gets less than the whole budget: an unreachable host should fail fast.
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), **kwargs)


def retry_after(response: httpx.Response, seconds: float | int | str | None = None) -> timedelta | None:
    """The provider's wait: a value from its body first, else the Retry-After header (seconds)."""
    value = seconds if seconds is not None else response.headers.get("retry-after")
    try:
        return None if value is None else timedelta(seconds=float(value))
    except ValueError:
        return None  # an HTTP-date: let the activity's backoff decide


# Failures before the request left: the provider certainly has nothing.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
# Answers from the provider itself that it did not take the request; a 500 or a proxy's 502/504
# may come after the provider took it.
REFUSED_FOR_NOW = frozenset({408, 429, 503})


async def post(client: httpx.AsyncClient, provider: str, url: str, **kwargs: Any) -> httpx.Response:
    """POST, turning timeouts and connection failures into ProviderUnavailable."""
    return await request(client, provider, "POST", url, **kwargs)


async def request(
    client: httpx.AsyncClient, provider: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    try:
        return await client.request(method, url, **kwargs)
    except NOT_SENT as exc:
        raise ProviderUnavailable(f"{provider} unreachable: {type(exc).__name__}", provider=provider) from exc
    except httpx.TimeoutException as exc:
        # The request left: the provider may have taken it and answered too late.
        raise ProviderUnavailable(f"{provider} timed out", provider=provider, maybe_sent=True) from exc
    except httpx.TransportError as exc:
        raise ProviderUnavailable(
            f"{provider} connection lost: {type(exc).__name__}", provider=provider, maybe_sent=True
        ) from exc


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object, or {} when the provider answered something else (a proxy page)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {"data": body}


def unexpected(provider: str, response: httpx.Response) -> SendError:
    """An answer no table names: 5xx, 408 and 429 are transient; another 4xx refuses this message
    (the next channel is tried, the address is not marked dead)."""
    status = response.status_code
    if status >= 500 or status in REFUSED_FOR_NOW:
        return ProviderUnavailable(
            f"{provider} answered HTTP {status}",
            retry_after=retry_after(response),
            provider=provider,
            maybe_sent=status not in REFUSED_FOR_NOW,
        )
    return RecipientUnreachable(f"{provider} refused the message: HTTP {status}", provider=provider)
