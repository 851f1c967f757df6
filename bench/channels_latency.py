"""Per-channel send latency through the fake providers on loopback: `python -m bench.channels_latency`.

Measures our side (payload building, signing, encryption, HTTP/SMTP round trip, classification),
not the providers' own latency.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from channels.registry import build_adapters, close_adapters
from domain.contacts import Channel
from tests.channels.conftest import Fakes
from tests.channels.test_adapters import message, recipient

SENDS = 200
CASES = [
    (Channel.TELEGRAM, ""), (Channel.WHATSAPP, ""), (Channel.SMS, "smsaero"), (Channel.SMS, "rocketsms"),
    (Channel.SMS, "twilio"), (Channel.PUSH, ""), (Channel.WEBPUSH, ""), (Channel.EMAIL, ""),
    (Channel.WEBHOOK, ""),
]  # fmt: skip


async def measure(fakes: Fakes) -> list[tuple[str, float, float, float]]:
    adapters = build_adapters(fakes.config(channel_timeout=10.0))
    rows = []
    try:
        for channel, gateway in CASES:
            contact, _, _ = recipient(fakes, channel, gateway)
            outgoing = message(channel, contact)
            await adapters[channel].send(outgoing)  # warm up: connection, FCM token
            samples = []
            for _ in range(SENDS):
                started = time.perf_counter()
                await adapters[channel].send(outgoing)
                samples.append((time.perf_counter() - started) * 1000)
            samples.sort()
            name = f"{channel.value}/{gateway}" if gateway else channel.value
            rows.append((name, statistics.median(samples), samples[int(len(samples) * 0.95)], samples[-1]))
    finally:
        await close_adapters(adapters)
    return rows


def main() -> None:
    fakes = Fakes().start()
    try:
        rows = asyncio.run(measure(fakes))
    finally:
        fakes.stop()
    print(f"{'channel':<16}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}   ({SENDS} sequential sends each)")
    for name, p50, p95, worst in rows:
        print(f"{name:<16}{p50:>10.2f}{p95:>10.2f}{worst:>10.2f}")


if __name__ == "__main__":
    main()
