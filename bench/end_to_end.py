"""End to end: N appointment.confirmed events posted over HTTP -> N confirmations in the delivery log.

Latency runs from the moment a request was sent to the moment the outbox recorded the message
(`deliveries.sent_at`); both clocks are this machine's.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from bench.appointments import STRUCTURED, duplicate_sends, sent, wait_for_sent
from bench.ingest import drive, make_events
from bench.report import Report, spread
from bench.stack import Stack


async def run(events: int = 500, clients: int = 16, tuning: dict[str, Any] | None = None) -> Report:
    report = Report("end_to_end", {"events": events, "clients": clients, "tuning": tuning or {}})
    batch = make_events(events, "e2e")
    posted_at: dict[str, float] = {}
    async with Stack(tuning=tuning) as stack:
        await stack.start_api()
        await stack.wait_polling(stack.start_worker())
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=60, limits=limits) as http:

            async def post(index: int) -> None:
                event = batch[index]
                posted_at[f"appointment:{event['subject']}"] = time.time()
                response = await http.post("/v1/events", headers=STRUCTURED, content=json.dumps(event))
                if response.status_code != 202:
                    raise RuntimeError(f"POST answered {response.status_code}: {response.text[:300]}")

            cpu_before, wall_before = stack.cpu(), time.monotonic()
            began = time.time()
            post_rate, _ = await drive(events, clients, post)
            await wait_for_sent(stack.store, "confirmed", events, patience=60 + events / 5)
            cpu_after, wall = stack.cpu(), time.monotonic() - wall_before
        rows = await sent(stack.store, "confirmed")
        duplicates = await duplicate_sends(stack.store)
    latencies = [r[3].timestamp() - posted_at[r[0]] for r in rows if r[0] in posted_at]
    last = max((r[3].timestamp() for r in rows), default=began)
    rate = len(latencies) / (last - began) if latencies else 0.0
    s = spread(latencies)
    report.add(
        f"End to end: {events} appointment.confirmed -> confirmation recorded, {clients} clients",
        ["events", "messages", "missing", "duplicates", "posted/s", "messages/s", "p50 s", "p99 s", "max s"],
        [
            [
                events,
                len(latencies),
                events - len(latencies),
                duplicates,
                round(post_rate, 1),
                round(rate, 1),
                s["p50"],
                s["p99"],
                s["max"],
            ]
        ],
    )
    report.add(
        "Where the 2 cores went meanwhile (CPU seconds per wall second; 1.0 = one core busy)",
        ["process", "cores"],
        [[name, round((cpu_after[name] - cpu_before[name]) / wall, 2)] for name in cpu_after],
    )
    report.note("all events posted as fast as C clients go: latency includes queueing behind the burst")
    return report
