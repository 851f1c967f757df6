"""Baseline: the same reminders on Celery ETA tasks (Redis on 127.0.0.1:6379), beside nudgeflow.

Scenarios: equal load; the worker SIGKILLed before a burst and restarted before it is due; reminders
further ahead than the visibility timeout; cancelled and moved appointments; memory with many
reminders far ahead. The visibility timeout is shrunk to seconds where it matters so a short run
shows what the default (1 h) does over hours; every table says which value it used.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import nudgeflow_scenarios as nudgeflow
from bench.celery_worker import CeleryBaseline
from bench.floor import read_record
from bench.report import Report, spread

CELERY_GROUPS = ("cancelled", "moved", "cancelled-revoked", "moved-revoked")


@dataclass(frozen=True)
class Timing:
    """Seconds that shape the scenarios; `QUICK` keeps the smoke test short, at the cost of meaning."""

    kill_visibility: float = 20.0  # the burst is due within this of being taken: no duplicates
    duplicate_visibility: float = 5.0
    ahead: float = 20.0  # how far ahead the duplicate scenario's reminders lie
    lead: float = 15.0  # booking -> first reminder, cancelled and moved scenario
    spread: float = 5.0  # the reminders of one scenario are due within this
    settle: float = 10.0  # waited after the last is due, for what should not come
    patience: float = 45.0  # waited at most for late reminders, beyond the visibility timeout


FULL = Timing()
QUICK = Timing(
    kill_visibility=3.0, duplicate_visibility=1.0, ahead=4.0, lead=6.0, spread=1.0, settle=2.0, patience=5.0
)


def lateness_of(due: dict[str, float], ran: dict[str, list[float]]) -> dict[str, Any]:
    lateness = [ran[k][0] - due[k] for k in due if k in ran]
    duplicated = sum(len(ran[k]) - 1 for k in due if k in ran)
    return {**spread(lateness), "missed": len(due) - len(lateness), "duplicated": duplicated}


def wait_for(condition: Callable[[], bool], until: float) -> None:
    while time.time() < until and not condition():
        time.sleep(0.5)


def equal_load(directory: Path, m: int, window: float, patience: float) -> dict[str, Any]:
    celery = CeleryBaseline(directory)
    try:
        celery.start_worker()
        t0 = time.time() + 5 + m / 1000
        due = {f"load-{i}": t0 + i * window / m for i in range(m)}
        celery.schedule(list(due.items()))
        wait_for(lambda: len(read_record(celery.record)) >= m, t0 + window + patience)
        return {**lateness_of(due, read_record(celery.record)), "rss_mib": round(celery.rss_mib(), 1)}
    finally:
        celery.close()


def killed_before_burst(directory: Path, k: int, lead: float, timing: Timing) -> dict[str, Any]:
    """k reminders due within 5 s, `lead` s from now; the worker dies 6 s before and is back 4 s before."""
    visibility = timing.kill_visibility
    celery = CeleryBaseline(directory, visibility_s=visibility)
    try:
        celery.start_worker()
        t0 = time.time() + lead
        due = {f"kill-{i}": t0 + i * 5 / k for i in range(k)}
        celery.schedule(list(due.items()))
        celery.wait_reserved()
        time.sleep(max(0.0, t0 - 6 - time.time()))
        celery.kill_worker()
        time.sleep(2)
        celery.start_worker()
        wait_for(lambda: len(read_record(celery.record)) >= k, t0 + visibility + timing.patience)
        return lateness_of(due, read_record(celery.record))
    finally:
        celery.close()


def far_ahead(directory: Path, k: int, timing: Timing) -> dict[str, Any]:
    """k reminders further ahead than the visibility timeout: Redis hands them out again."""
    celery = CeleryBaseline(directory, visibility_s=timing.duplicate_visibility)
    try:
        celery.start_worker()
        t0 = time.time() + timing.ahead
        due = {f"ahead-{i}": t0 + i * timing.spread / k for i in range(k)}
        celery.schedule(list(due.items()))
        time.sleep(max(0.0, t0 + timing.spread + timing.settle - time.time()))
        return lateness_of(due, read_record(celery.record))
    finally:
        celery.close()


def cancelled_and_moved(directory: Path, k: int, timing: Timing) -> dict[str, dict[str, int]]:
    # A team that keeps no task ids cannot revoke; one that does must store them per appointment.
    """Four groups of k/4: cancelled or moved (+1 h), each without and with revoke bookkeeping."""
    celery = CeleryBaseline(directory)
    try:
        celery.start_worker()
        t0 = time.time() + timing.lead
        due = {f"{g}-{i}": t0 + i * timing.spread / k for g in CELERY_GROUPS for i in range(k // 4)}
        ids = celery.schedule(list(due.items()))
        for key in due:
            group = key.rsplit("-", 1)[0]
            if group.startswith("moved"):  # the new time, an hour on
                celery.schedule([(f"new-{key}", due[key] + 3600)])
            if group.endswith("revoked"):
                celery.app.control.revoke(ids[key])
        time.sleep(max(0.0, t0 + timing.spread + timing.settle - time.time()))
        ran = read_record(celery.record)
        return {g: {"fired": sum(1 for key in ran if key.rsplit("-", 1)[0] == g)} for g in CELERY_GROUPS}
    finally:
        celery.close()


def memory(directory: Path, n: int) -> dict[str, float]:
    celery = CeleryBaseline(directory)
    try:
        celery.start_worker()
        time.sleep(2)
        idle = celery.rss_mib()
        hour = time.time() + 3600
        celery.schedule([(f"far-{i}", hour + i) for i in range(n)])
        celery.wait_reserved()
        time.sleep(2)
        return {"idle": round(idle, 1), "loaded": round(celery.rss_mib(), 1)}
    finally:
        celery.close()


async def run(
    m: int = 2000, window: float = 60.0, burst: int = 300, k: int = 200, far: int = 2000, quick: bool = False
) -> Report:
    timing = QUICK if quick else FULL
    params = {"m": m, "window_s": window, "burst": burst, "k": k, "far": far, "timing": asdict(timing)}
    report = Report("celery_baseline", params)
    directory = Path(tempfile.mkdtemp(prefix="nudgeflow-celery-"))
    load = await asyncio.to_thread(equal_load, directory, m, window, timing.patience)
    cols = ["system", "p50 s", "p99 s", "max s", "missed", "duplicated"]
    row = [load["p50"], load["p99"], load["max"], load["missed"], load["duplicated"]]
    report.add(
        f"Equal load: {m} reminders over {window:.0f} s (nudgeflow: see reminders)", cols, [["celery", *row]]
    )
    report.data["equal_load"] = load

    lead = 8 + burst / 40
    ours = await nudgeflow.killed_before_burst(burst, lead, timing.patience)
    theirs = await asyncio.to_thread(killed_before_burst, directory, burst, lead, timing)
    rows = [
        [name, r["p50"], r["p99"], r["max"], r["missed"], r["duplicated"]]
        for name, r in (("nudgeflow", ours), (f"celery, visibility {timing.kill_visibility:.0f} s", theirs))
    ]
    report.add(f"Worker SIGKILLed 6 s before a burst of {burst} reminders, back 4 s before it", cols, rows)
    report.note(
        f"with Celery's default visibility timeout ({3600} s) the burst would come about an hour late"
    )

    ahead = await asyncio.to_thread(far_ahead, directory, k, timing)
    changes = await nudgeflow.cancelled_and_moved(k, timing.lead, timing.spread, timing.settle)
    report.add(
        f"Reminders {timing.ahead:.0f} s ahead (nudgeflow: the untouched ones of the next scenario)",
        ["system", "reminders", "extra runs", "missed"],
        [
            [
                f"celery, visibility {timing.duplicate_visibility:.0f} s",
                k,
                ahead["duplicated"],
                ahead["missed"],
            ],
            [
                "nudgeflow",
                changes["untouched"]["expected"],
                changes["untouched"]["duplicated"],
                changes["untouched"]["missed"],
            ],
        ],
    )
    theirs_changes = await asyncio.to_thread(cancelled_and_moved, directory, k, timing)
    report.add(
        f"Reminders that fired although the appointment was cancelled or moved (of {k // 4} per group)",
        ["system", "cancelled", "moved: at the old time"],
        [
            ["nudgeflow (replans)", changes["cancelled"]["fired"], changes["moved"]["fired"]],
            [
                "celery, no revoke bookkeeping",
                theirs_changes["cancelled"]["fired"],
                theirs_changes["moved"]["fired"],
            ],
            [
                "celery, revoke(task_id) kept per appointment",
                theirs_changes["cancelled-revoked"]["fired"],
                theirs_changes["moved-revoked"]["fired"],
            ],
        ],
    )
    report.note("revoked ids live in the worker's memory: a restart without --statedb forgets them")

    mem = await asyncio.to_thread(memory, directory, far)
    report.add(
        f"Celery worker memory (main + 2 prefork children), {far} reminders 1 h ahead",
        ["state", "RSS MiB"],
        [["idle", mem["idle"]], [f"{far} reminders reserved", mem["loaded"]]],
    )
    report.data["memory"] = mem
    shutil.rmtree(directory, ignore_errors=True)
    return report
