"""Staff console pages against a large delivery log: `python -m bench.console_pages`.

python -m bench.console_pages                          # 100,000 deliveries on SQLite
python -m bench.console_pages --database postgres      # on PostgreSQL (127.0.0.1:5432)
python -m bench.console_pages --deliveries 20000 --requests 5

Seeds one clinic with N deliveries over 90 days (each with an attempt; one in 50 failed), 5,000
contacts and a few hundred events, plus a second clinic of the same size so every query has to
filter by tenant; then asks each page over HTTP in process (httpx on the ASGI app: no network) and
reports server time per page. The target is 300 ms per page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text

from api.app import create_app
from bench.report import Report, spread
from config import Settings
from domain.contacts import Contact
from domain.settings import TenantSettings
from store import Store, migrate
from store.staff import Role
from store.tables import DeliveryAttemptRow, DeliveryRow, InboundEventRow
from tests.conftest import BIN

TENANTS = ("clinic-a", "clinic-b")
CHANNELS = ("sms", "telegram", "whatsapp", "email", "push")
PROVIDERS = {
    "sms": "smsaero",
    "telegram": "telegram",
    "whatsapp": "whatsapp",
    "email": "email",
    "push": "fcm",
}
KINDS = ("appointment", "appointment", "appointment", "lesson", "invoice", "balance", "chat")
CONTACTS = 5_000
PASSWORD = "bench-password-1"
BATCH = 5_000


def _phone(n: int) -> str:
    return f"+7916{n:07d}"


async def seed(store: Store, tenant: str, deliveries: int, now: datetime) -> None:
    await store.upsert_contacts(
        tenant,
        [
            Contact(id=f"p-{n}", name=f"Пациент {n}", phone=_phone(n), locale="ru", timezone="Europe/Moscow")
            for n in range(CONTACTS)
        ],
    )
    rng = random.Random(tenant)
    # Oldest first, as a real log grows: row ids follow time.
    moments = sorted(now - timedelta(seconds=rng.randrange(90 * 86400)) for _ in range(deliveries))
    first_id = None
    async with store.engine.begin() as connection:
        for start in range(0, deliveries, BATCH):
            rows: list[dict[str, Any]] = []
            for n in range(start, min(start + BATCH, deliveries)):
                at = moments[n]
                channel = rng.choice(CHANNELS)
                kind = rng.choice(KINDS)
                status = "failed" if n % 50 == 0 else rng.choice(("sent", "delivered", "read", "skipped"))
                rows.append(
                    {
                        "tenant": tenant,
                        "idempotency_key": f"{tenant}/{n}",
                        "subject": f"{kind}:{kind[0]}-{n // 4}",
                        "workflow_id": f"{kind}:{tenant}:{kind[0]}-{n // 4}",
                        "step": rng.choice(("reminder-24h", "reminder-2h", "confirmed", "nudge-0")),
                        "contact_id": f"p-{rng.randrange(CONTACTS)}",
                        "template": "visit_reminder",
                        "scheduled_for": at,
                        "channel": channel,
                        "provider": PROVIDERS[channel],
                        "locale": "ru",
                        "body": "Напоминаем: завтра в 10:00 приём у стоматолога, Москва, ул. Арбат, 10.",
                        "attachments": [],
                        "status": status,
                        "reason": "no channel reached the recipient" if status == "failed" else None,
                        "cost": 0.05 if channel == "sms" else 0.0,
                        "sent_at": at + timedelta(seconds=rng.random()) if status != "skipped" else None,
                        "created_at": at,
                        "updated_at": at,
                    }
                )
            await connection.execute(insert(DeliveryRow), rows)
        ids = (await connection.execute(DeliveryRow.__table__.select().with_only_columns(DeliveryRow.id)
               .where(DeliveryRow.tenant == tenant))).scalars().all()  # fmt: skip
        first_id = ids[0]
        for start in range(0, len(ids), BATCH):
            await connection.execute(
                insert(DeliveryAttemptRow),
                [
                    {
                        "delivery_id": i,
                        "attempt": 1,
                        "channel": "sms",
                        "provider": "smsaero",
                        "status": "sent",
                        "at": now,
                    }
                    for i in ids[start : start + BATCH]
                ],
            )
        events = []
        for n in range(600):
            kind = ("appointment.requested", "appointment.confirmed", "feedback.submitted")[n % 3]
            data: dict[str, Any] = (
                {"rating": 1 + n % 5, "comment": "долго ждали"} if "feedback" in kind else {}
            )
            events.append(
                {
                    "tenant": tenant,
                    "source": "/bench",
                    "event_id": f"e-{n}",
                    "type": kind,
                    "subject": f"a-{n // 3}",
                    "workflow_id": f"appointment:{tenant}:a-{n // 3}",
                    "status": "routed",
                    "received_at": now - timedelta(minutes=n),
                    "payload": {"data": data},
                    "attempts": 0,
                }
            )
        await connection.execute(insert(InboundEventRow), events)
    assert first_id is not None


def pages(now: datetime) -> dict[str, str]:
    week_ago = (now - timedelta(days=7)).date().isoformat()
    return {
        "dashboard 14 days": "/staff/dashboard",
        "dashboard 90 days": "/staff/dashboard?days=90",
        "log, newest": "/staff/deliveries",
        "log, patient by phone": f"/staff/deliveries?patient={_phone(1234)}",
        "log, patient by name": "/staff/deliveries?patient=Пациент 4321",
        "log, lesson": "/staff/deliveries?kind=lesson",
        "log, failed": "/staff/deliveries?status=failed",
        "log, telegram last week": f"/staff/deliveries?channel=telegram&since={week_ago}",
        "log, page 2": "",  # filled from page 1's link
        "message": "",  # the newest message
        "timeline (log and events)": "/staff/timeline/appointment/a-10",
        "queues": "/staff/queues",
        "contacts, search": "/staff/contacts?q=4321",
        "contact card": "/staff/contacts/p-1234",
        "templates": "/staff/templates",
        "settings": "/staff/settings",
    }


async def run(deliveries: int, requests: int, database: str) -> Report:
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    report = Report("console_pages", {"deliveries": deliveries, "requests": requests, "database": database})
    with tempfile.TemporaryDirectory() as tmp:
        if database == "postgres":
            from tests.store.backends import create_postgres_database, drop_postgres_database

            url = create_postgres_database()
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'console.db'}"
            migrate(url)
        store = Store(url)
        now = datetime.now(UTC)
        began = time.perf_counter()
        for tenant in TENANTS:
            await store.ensure_tenant(tenant, tenant, f"key-{tenant}")
            await store.put_settings(tenant, TenantSettings(timezone="Europe/Moscow"))
            await seed(store, tenant, deliveries, now)
        if database == "postgres":
            # What autovacuum does within a minute of a bulk load; without it the planner guesses.
            async with store.engine.begin() as connection:
                await connection.execute(text("ANALYZE"))
        await store.create_staff("admin@bench.example", TENANTS[0], Role.ADMIN, PASSWORD)
        report.note(
            f"seeded {len(TENANTS)} x {deliveries:,} deliveries in {time.perf_counter() - began:.0f} s"
        )
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(BIN / "temporal"),
            data_converter=pydantic_data_converter,
            dev_server_log_level="error",
        )
        app = create_app(Settings(database_url="sqlite://"), store=store, temporal=env.client)
        rows = []
        try:
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://staff") as client:
                    login = (await client.get("/staff/login")).text
                    token = login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
                    data = {"email": "admin@bench.example", "password": PASSWORD, "csrf_token": token}
                    assert (await client.post("/staff/login", data=data)).status_code == 303
                    urls = pages(now)
                    first = (await client.get("/staff/deliveries")).text
                    urls["log, page 2"] = (
                        first.split('id="older"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
                    )
                    urls["log, page 2"] = urls["log, page 2"].replace("&amp;", "&")
                    urls["message"] = (
                        "/staff/deliveries/" + first.split('<tr data-id="', 1)[1].split('"', 1)[0]
                    )
                    for name, url in urls.items():
                        samples = []
                        for _ in range(requests + 1):  # the first also warms caches up
                            started = time.perf_counter()
                            answer = await client.get(url)
                            samples.append((time.perf_counter() - started) * 1000)
                            assert answer.status_code in (200, 404), (name, answer.status_code)
                        figures = spread(samples[1:])
                        worst = max(samples)
                        ok = "yes" if worst < 300 else "NO"
                        rows.append((name, round(samples[0], 1), figures["p50"], figures["max"], ok))
        finally:
            await env.shutdown()
            await store.close()
            if database == "postgres":
                drop_postgres_database(url)
    report.add(
        f"Console pages, {deliveries:,} deliveries per clinic ({database}), ms",
        ("page", "first", "p50", "max", "< 300 ms"),
        rows,
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.console_pages", description=__doc__)
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument(
        "--database", choices=("sqlite", "postgres"), default=os.environ.get("BENCH_DATABASE", "sqlite")
    )
    args = parser.parse_args()
    report = asyncio.run(run(args.deliveries, args.requests, args.database))
    name = "console_pages" if args.database == "sqlite" else "console_pages_postgres"
    report.name = name
    print(f"saved {report.save()}")


if __name__ == "__main__":
    main()
