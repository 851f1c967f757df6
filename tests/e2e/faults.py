"""What the fault scenarios share: a dev server that is SIGKILLed and comes back with its state, a
stack of API and worker processes that die by SIGKILL, fake providers the workers send to, a backend
that retries, and the tally of what each patient got, counted at the fake providers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from tests.e2e.stack import Stack, wait_healthy
from tests.factories import appointment
from tests.fakes.smsaero import FakeSmsAero
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio
from tests.ports import free_port

KEY = {"Authorization": "Bearer demo-key"}
TEMPORAL = Path(sys.executable).parent / "temporal"
# Statuses no retry changes: a row still `planned` or `sending` at the end is a lost message.
FINAL = frozenset({"sent", "delivered", "read", "failed", "skipped", "unknown"})
OUTCOMES = frozenset({"sent", "delivered", "read", "unknown"})


class DevServer:
    """`temporal server start-dev` on its own SQLite file and port, so a restart finds its state."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.db = directory / "temporal.db"
        self.log = directory / "temporal.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def spawn(self) -> subprocess.Popen[bytes]:
        argv = [str(TEMPORAL), "server", "start-dev", "--db-filename", str(self.db), "--headless"]
        argv += ["--ip", "127.0.0.1", "--port", str(self.port), "--log-level", "error"]
        with open(self.log, "ab") as log:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    async def start(self) -> float:
        """Start it and wait until it serves the namespace; the seconds that took."""
        self.process = self.spawn()
        began = time.monotonic()
        while time.monotonic() < began + 60:
            if self.process.poll() is not None:
                raise AssertionError(f"the dev server exited; see {self.log}")
            if await self._ready():
                return time.monotonic() - began
            await asyncio.sleep(0.2)
        raise AssertionError(f"the dev server did not come up; see {self.log}")

    async def _ready(self) -> bool:
        try:
            client = await asyncio.wait_for(Client.connect(self.address), 3)
            request = DescribeNamespaceRequest(namespace="default")
            await client.workflow_service.describe_namespace(request, timeout=timedelta(seconds=2))
        except Exception:
            return False
        return True

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()


class Providers:
    """Fake Twilio, SMS Aero and Telegram on loopback, and the NUDGEFLOW_* variables that point a
    worker's adapters at them."""

    def __init__(self, hang_seconds: float) -> None:
        self.twilio = FakeTwilio(hang_seconds=hang_seconds)
        self.smsaero = FakeSmsAero(hang_seconds=hang_seconds)
        self.telegram = FakeTelegram(hang_seconds=hang_seconds)

    def start(self) -> Providers:
        for fake in (self.twilio, self.smsaero, self.telegram):
            fake.start()
        return self

    def stop(self) -> None:
        for fake in (self.twilio, self.smsaero, self.telegram):
            fake.stop()

    def env(self) -> dict[str, str]:
        return {
            "NUDGEFLOW_TWILIO_BASE_URL": self.twilio.url,
            "NUDGEFLOW_TWILIO_ACCOUNT_SID": self.twilio.account_sid,
            "NUDGEFLOW_TWILIO_AUTH_TOKEN": self.twilio.auth_token,
            "NUDGEFLOW_TWILIO_FROM": "+15005550006",
            # A long code sends one segment a second (channels/pacing.py): fifty patients' Russian
            # SMS would take minutes. These scenarios are about faults, not pace: the sender is taken
            # as one upgraded to 100 messages a second.
            "NUDGEFLOW_PACING_TWILIO_PER_SECOND": "100",
            "NUDGEFLOW_SMSAERO_BASE_URL": self.smsaero.url,
            "NUDGEFLOW_SMSAERO_EMAIL": "ops@clinic.example",
            "NUDGEFLOW_SMSAERO_API_KEY": "k" * 32,
            "NUDGEFLOW_TELEGRAM_BASE_URL": self.telegram.url,
            "NUDGEFLOW_TELEGRAM_BOT_TOKEN": self.telegram.token,
        }

    def got(self, patient: Patient) -> list[str]:
        """The texts the providers took for this patient, on any channel: what the patient got."""
        texts = [r["payload"]["Body"] for r in self.twilio.sent() if r["to"] == patient.phone]
        texts += [r["payload"]["text"] for r in self.smsaero.sent() if r["number"] == patient.phone[1:]]
        if patient.chat_id is not None:
            texts += [
                r["payload"]["text"] for r in self.telegram.sent() if r.get("chat_id") == patient.chat_id
            ]
        return texts

    def staff_got(self, staff_chat: str) -> list[str]:
        return [r["payload"]["text"] for r in self.telegram.sent() if r.get("chat_id") == staff_chat]


_numbers = itertools.count(1000)


@dataclass(frozen=True)
class Patient:
    """A patient reached through one provider: Twilio (+1), SMS Aero (+7) or Telegram (with a +7
    number beside it, which must stay silent: an unknown Telegram message is never resent by SMS)."""

    id: str
    provider: str
    phone: str
    chat_id: str | None = None

    @classmethod
    def new(cls, run: str, index: int, provider: str) -> Patient:
        n = next(_numbers)
        phone = f"+1202555{n:04d}" if provider == "twilio" else f"+7916555{n:04d}"
        chat_id = str(7_000_000 + n) if provider == "telegram" else None
        return cls(id=f"{run}-p{index}", provider=provider, phone=phone, chat_id=chat_id)

    @property
    def name(self) -> str:
        return f"Пациент {self.id}"

    def contact(self) -> dict[str, Any]:
        contact = {"id": self.id, "name": self.name, "locale": "ru-RU", "timezone": "Europe/Moscow"}
        contact["phone"] = self.phone
        if self.chat_id is not None:
            contact["telegram_chat_id"] = self.chat_id
        return contact


def mixed(run: str, count: int) -> list[Patient]:
    providers = ("twilio", "smsaero", "telegram")
    return [Patient.new(run, i, providers[i % 3]) for i in range(count)]


def staff_settings(staff_chat: str, **overrides: Any) -> dict[str, Any]:
    """No quiet hours, reminders seconds apart, staff on Telegram: they hear of every unknown outcome."""
    admin = {
        "id": "admin-1",
        "name": "Администратор",
        "locale": "ru",
        "timezone": "Europe/Moscow",
        "telegram_chat_id": staff_chat,
    }
    return {"quiet_hours": None, "max_lateness": "PT1H", "staff_recipients": [admin], **overrides}


def confirmed(patient: Patient, appointment_id: str, starts_at: datetime) -> dict[str, Any]:
    """A structured CloudEvent: the backend's `appointment.confirmed` for this patient."""
    return {
        "specversion": "1.0",
        "id": f"evt-{appointment_id}",
        "source": "/faults/backend",
        "type": "appointment.confirmed",
        "subject": appointment_id,
        "tenant": "demo",
        "sequence": 1,
        "datacontenttype": "application/json",
        "data": appointment(appointment_id, starts_at, patient=patient.contact()),
    }


@dataclass
class Backend:
    """A client system posting events the way a careful backend does: on a lost connection or a
    5xx it posts the same event (same id) again, until it hears 202."""

    retries: int = 0
    duplicates: int = 0
    accepted: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    watch: tuple[int, asyncio.Event] | None = None

    def when_accepted(self, count: int) -> asyncio.Event:
        """Set once `count` events were accepted."""
        self.watch = (count, asyncio.Event())
        return self.watch[1]

    async def post(
        self, client: httpx.AsyncClient, urls: list[str], event: dict[str, Any], patience: float = 90
    ) -> None:
        """Post to the first API; each retry goes to the next one, as behind a load balancer."""
        headers = {**KEY, "Content-Type": "application/cloudevents+json"}
        deadline = time.monotonic() + patience
        for url in itertools.cycle(urls):
            try:
                response = await client.post(f"{url}/v1/events", content=json.dumps(event), headers=headers)
            except httpx.TransportError:
                response = None
            if response is not None:
                self.answers[response.status_code] += 1
                if response.status_code == 202:
                    answer = response.json()
                    self.accepted += len(answer["accepted"])
                    self.duplicates += len(answer["duplicates"])
                    if self.watch is not None and self.accepted >= self.watch[0]:
                        self.watch[1].set()
                    return
                assert response.status_code >= 500, response.text
            if time.monotonic() > deadline:
                raise AssertionError(f"event {event['id']} never accepted")
            self.retries += 1
            await asyncio.sleep(0.3)

    async def post_all(self, urls: list[str], events: list[dict[str, Any]], concurrency: int = 8) -> None:
        """Every event, `concurrency` at a time, spread over the APIs in turn."""
        limit = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=20) as client:

            async def one(index: int, event: dict[str, Any]) -> None:
                async with limit:
                    first = index % len(urls)
                    await self.post(client, urls[first:] + urls[:first], event)

            await asyncio.gather(*(one(i, e) for i, e in enumerate(events)))


class FaultStack(Stack):
    """The product's processes with the fakes' variables, any number of APIs, and SIGKILL for each."""

    def __init__(
        self, temporal: DevServer, database_url: str, task_queue: str, logs: Path, env: dict[str, str]
    ) -> None:
        super().__init__(temporal.address, database_url, task_queue, logs)
        self.env.update(env)
        self.more_apis: list[tuple[int, subprocess.Popen[bytes]]] = []

    def start_another_api(self) -> str:
        """A second API process on the same store and task queue; its URL."""
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        process = self._spawn(f"api-{port}", argv)
        self.more_apis.append((port, process))
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, self.logs / f"api-{port}.log")
        return url

    def kill_api(self) -> None:
        assert self.api is not None
        self.api.send_signal(signal.SIGKILL)
        self.api.wait(10)

    def start_polling_worker(self) -> subprocess.Popen[bytes]:
        """A worker (production settings: no sandbox) and the wait until it polls the task queue."""
        worker = self.start_worker(sandboxed=False)
        log = self.logs / f"worker-{len(self.workers) - 1}.log"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise AssertionError(f"the worker exited; see {log}")
            if log.exists() and b"worker polling" in log.read_bytes():
                return worker
            time.sleep(0.1)
        raise AssertionError(f"the worker did not start polling; see {log}")

    def stop(self) -> None:
        for _, process in self.more_apis:
            if process.poll() is None:
                process.terminate()
                process.wait(10)
        super().stop()


def rows(database_url: str, workflow_ids: list[str]) -> list[dict[str, Any]]:
    """The delivery rows of these lifecycles, patients' and staff's."""
    with psycopg.connect(database_url, row_factory=dict_row) as connection:
        return connection.execute(
            "SELECT workflow_id, step, contact_id, template, status, body, channel, provider, reason, "
            "scheduled_for, sent_at, updated_at FROM deliveries WHERE workflow_id = ANY(%s)",
            [workflow_ids],
        ).fetchall()


def workflow_of(appointment_id: str) -> str:
    return f"appointment:demo:{appointment_id}"


def is_alert(row: dict[str, Any]) -> bool:
    return "/failed/" in row["step"]


async def settled(
    database_url: str, appointments: dict[str, Patient], per_patient: int, patience: float
) -> list[dict[str, Any]]:
    """Wait until every patient has `per_patient` final rows and every unknown one its staff alert."""
    ids = [workflow_of(a) for a in appointments]
    deadline = time.monotonic() + patience
    while True:
        found = await asyncio.to_thread(rows, database_url, ids)
        mine = [r for r in found if not is_alert(r)]
        alerts = {(r["workflow_id"], r["step"].split("/failed/")[0]) for r in found if is_alert(r)}
        alerts_final = all(r["status"] in FINAL for r in found if is_alert(r))
        unknown = [(r["workflow_id"], r["step"]) for r in mine if r["status"] == "unknown"]
        if (
            len(mine) == per_patient * len(appointments)
            and all(r["status"] in FINAL for r in mine)
            and all(u in alerts for u in unknown)
            and alerts_final
        ):
            return found
        if time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)


@dataclass
class Tally:
    """Each expected message of each patient, judged at the fake providers."""

    expected: int = 0
    sent: int = 0  # recorded sent, and the provider took it once
    unknown: int = 0  # recorded unknown (the provider may or may not have it), staff told
    unknown_went: int = 0  # of those, the provider did take it: once
    duplicates: int = 0  # copies the provider took beyond what our log says went out
    lost: int = 0  # due and never recorded sent or unknown, or recorded sent and never at the provider
    alerted: int = 0  # unknown outcomes whose staff alert the fake Telegram took
    asked: int = 0  # found at the provider by a retry after an unanswered attempt, not sent again
    staff_messages: int = 0
    problems: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"expected {self.expected}, sent {self.sent}, unknown {self.unknown} "
            f"(at the provider {self.unknown_went}, staff alerted {self.alerted}), "
            f"duplicates {self.duplicates}, lost {self.lost}; found at the provider on a retry "
            f"{self.asked}; staff messages {self.staff_messages}"
        )

    def check(self, evidence: Path) -> None:
        """What the design allows: no silent duplicate, nothing lost, every doubt visible and told.
        On failure the rows and the fakes' requests are in `evidence`/tally.json."""
        if self.duplicates or self.lost or self.alerted != self.unknown:
            found = {**self.evidence, "problems": self.problems}
            (evidence / "tally.json").write_text(json.dumps(found, default=str, ensure_ascii=False))
        assert self.duplicates == 0, self.problems
        assert self.lost == 0, self.problems
        assert self.alerted == self.unknown, self.problems
        assert self.sent + self.unknown == self.expected, self.problems


def tally(
    providers: Providers,
    appointments: dict[str, Patient],
    found: list[dict[str, Any]],
    per_patient: int,
    staff_chat: str,
) -> Tally:
    result = Tally(expected=per_patient * len(appointments))
    result.evidence = {
        "rows": found,
        "twilio": providers.twilio.requests,
        "smsaero": providers.smsaero.requests,
        "telegram": providers.telegram.requests,
        "patients": {a: [p.id, p.phone, p.chat_id] for a, p in appointments.items()},
    }
    staff_texts = providers.staff_got(staff_chat)
    result.staff_messages = len(staff_texts)
    by_workflow: dict[str, list[dict[str, Any]]] = {}
    for row in found:
        if not is_alert(row):
            by_workflow.setdefault(row["workflow_id"], []).append(row)
    for appointment_id, patient in appointments.items():
        mine = by_workflow.get(workflow_of(appointment_id), [])
        if len(mine) < per_patient:
            result.lost += per_patient - len(mine)
            result.problems.append(f"{appointment_id}: {len(mine)} rows of {per_patient}")
        for row in mine:
            if row["status"] not in OUTCOMES:
                result.lost += 1
                result.problems.append(f"{appointment_id} {row['step']}: {row['status']} ({row['reason']})")
        at_provider = Counter(providers.got(patient))
        sent = Counter(r["body"] for r in mine if r["status"] in OUTCOMES - {"unknown"})
        unknown = Counter(r["body"] for r in mine if r["status"] == "unknown")
        for body in set(at_provider) | set(sent) | set(unknown):
            took, said_sent, in_doubt = at_provider[body], sent[body], unknown[body]
            result.sent += min(took, said_sent)
            if said_sent > took:
                result.lost += said_sent - took
                result.problems.append(f"{appointment_id}: recorded sent, never at the provider: {body!r}")
            beyond = max(0, took - said_sent)
            result.unknown_went += min(beyond, in_doubt)
            if beyond > in_doubt:
                result.duplicates += beyond - in_doubt
                result.problems.append(f"{appointment_id}: the provider took {took} of {body!r}")
        for row in mine:
            if "after an unanswered attempt" in (row["reason"] or ""):
                result.asked += 1
            if row["status"] == "unknown":
                result.unknown += 1
                if any(patient.name in text and row["template"] in text for text in staff_texts):
                    result.alerted += 1
                else:
                    result.problems.append(f"{appointment_id} {row['step']}: unknown, staff never told")
    return result


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def lateness(found: list[dict[str, Any]], template: str = "visit_reminder") -> list[float]:
    """Seconds each sent message of `template` went out after its time, sorted."""
    return sorted(
        (as_utc(r["sent_at"]) - as_utc(r["scheduled_for"])).total_seconds()
        for r in found
        if r["template"] == template and r["sent_at"] is not None
    )


def last_recorded(found: list[dict[str, Any]], due_before: datetime) -> datetime:
    """When the last message due before `due_before` reached its final status."""
    return max(as_utc(r["updated_at"]) for r in found if as_utc(r["scheduled_for"]) <= due_before)


def outbox(database_url: str, event_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """event id -> (status, the relay that holds or last held it: `host:pid:nonce`) in the outbox."""
    with psycopg.connect(database_url) as connection:
        found = connection.execute(
            "SELECT event_id, status, leased_by FROM inbound_events WHERE event_id = ANY(%s)", [event_ids]
        ).fetchall()
    return {event_id: (status, leased_by) for event_id, status, leased_by in found}


def pid_of(owner: str | None) -> int | None:
    """The process id in a relay's lease owner (`host:pid:nonce`)."""
    return None if owner is None else int(owner.split(":")[-2])
