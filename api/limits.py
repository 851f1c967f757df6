"""How much a request may carry: its body is counted as it arrives, and refused past the limit."""

from __future__ import annotations

from fastapi import Request

from api.problems import Problem


def too_large(limit: int) -> Problem:
    return Problem(413, "Payload too large", f"the body is over {limit} bytes; send fewer events at once")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, at most `limit` bytes: counted as it streams in, whatever Content-Length said."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)
