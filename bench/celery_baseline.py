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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench import nudgeflow_scenarios as nudgeflow
from bench.celery_app import DEFAULT_VISIBILITY_S
from bench.celery_worker import CeleryBaseline
from bench.floor import read_record
from bench.report import Report, spread

CELERY_GROUPS = ("cancelled", "moved", "cancelled-revoked", "moved-revoked")
Result = TypeVar("Result")


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


def all_ran(celery: CeleryBaseline, due: dict[str, float]) -> Callable[[], bool]:
    return lambda: due.keys() <= read_record(celery.record).keys()


@contextmanager
def started(directory: Path, visibility_s: float = DEFAULT_VISIBILITY_S) -> Iterator[CeleryBaseline]:
    """A Celery app and its worker under a Redis prefix of their own; closed (keys deleted) after."""
    celery = CeleryBaseline(directory, visibility_s=visibility_s)
    try:
        celery.start_worker()
        yield celery
    finally:
        celery.close()


def on_a_fresh_worker(
    directory: Path, visibility_s: float, scenario: Callable[[CeleryBaseline], Result]
) -> Result:
    with started(directory, visibility_s) as celery:
        return scenario(celery)


def equal_load(celery: CeleryBaseline, m: int, window: float, patience: float) -> dict[str, Any]:
    t0 = time.time() + 5 + m / 1000
    due = {f"load-{i}": t0 + i * window / m for i in range(m)}
    celery.schedule(list(due.items()))
    wait_for(all_ran(celery, due), t0 + window + patience)
    return {**lateness_of(due, read_record(celery.record)), "rss_mib": round(celery.rss_mib(), 1)}


def killed_before_burst(celery: CeleryBaseline, k: int, lead: float, timing: Timing) -> dict[str, Any]:
    """k reminders due within 5 s, `lead` s from now; the worker dies 6 s before and is back 4 s before.

    `celery` runs with the visibility timeout `timing.kill_visibility`."""
    t0 = time.time() + lead
    due = {f"kill-{i}": t0 + i * 5 / k for i in range(k)}
    celery.schedule(list(due.items()))
    celery.wait_reserved()
    time.sleep(max(0.0, t0 - 6 - time.time()))
    celery.kill_worker()
    time.sleep(2)
    celery.start_worker()
    wait_for(all_ran(celery, due), t0 + timing.kill_visibility + timing.patience)
    return lateness_of(due, read_record(celery.record))


def far_ahead(celery: CeleryBaseline, k: int, timing: Timing) -> dict[str, Any]:
    """k reminders further ahead than the visibility timeout (`timing.duplicate_visibility`, which
    `celery` runs with): Redis hands them out again."""
    t0 = time.time() + timing.ahead
    due = {f"ahead-{i}": t0 + i * timing.spread / k for i in range(k)}
    celery.schedule(list(due.items()))
    time.sleep(max(0.0, t0 + timing.spread + timing.settle - time.time()))
    return lateness_of(due, read_record(celery.record))


def cancelled_and_moved(celery: CeleryBaseline, k: int, timing: Timing) -> dict[str, dict[str, int]]:
    # A team that keeps no task ids cannot revoke; one that does must store them per appointment.
    """Four groups of k/4: cancelled or moved (+1 h), each without and with revoke bookkeeping."""
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


def memory(celery: CeleryBaseline, n: int) -> dict[str, float]:
    time.sleep(2)
    idle = celery.rss_mib()
    hour = time.time() + 3600
    celery.schedule([(f"far-{i}", hour + i) for i in range(n)])
    celery.wait_reserved()
    time.sleep(2)
    return {"idle": round(idle, 1), "loaded": round(celery.rss_mib(), 1)}


@dataclass(frozen=True)
class Measured:
    """Every scenario's figures, Celery's and nudgeflow's side by side."""

    load: dict[str, Any]
    ours_killed: dict[str, Any]
    theirs_killed: dict[str, Any]
    ahead: dict[str, Any]
    ours_changes: dict[str, dict[str, int]]
    theirs_changes: dict[str, dict[str, int]]
    memory: dict[str, float]


async def one_by_one(
    directory: Path, m: int, window: float, burst: int, lead: float, k: int, far: int, timing: Timing
) -> Measured:
    """The measurement: one scenario at a time, each Celery one on a fresh worker."""
    default = DEFAULT_VISIBILITY_S
    load = await asyncio.to_thread(
        on_a_fresh_worker, directory, default, lambda c: equal_load(c, m, window, timing.patience)
    )
    ours = await nudgeflow.killed_before_burst(burst, lead, timing.patience)
    theirs = await asyncio.to_thread(
        on_a_fresh_worker,
        directory,
        timing.kill_visibility,
        lambda c: killed_before_burst(c, burst, lead, timing),
    )
    ahead = await asyncio.to_thread(
        on_a_fresh_worker, directory, timing.duplicate_visibility, lambda c: far_ahead(c, k, timing)
    )
    changes = await nudgeflow.cancelled_and_moved(k, timing.lead, timing.spread, timing.settle)
    theirs_changes = await asyncio.to_thread(
        on_a_fresh_worker, directory, default, lambda c: cancelled_and_moved(c, k, timing)
    )
    mem = await asyncio.to_thread(on_a_fresh_worker, directory, default, lambda c: memory(c, far))
    return Measured(load, ours, theirs, ahead, changes, theirs_changes, mem)


async def all_at_once(
    directory: Path, m: int, window: float, burst: int, lead: float, k: int, far: int, timing: Timing
) -> Measured:
    """The smoke (`quick`): the same scenarios, Celery's beside nudgeflow's, the three on Celery's
    default visibility timeout one after another on one worker. Every part runs; the figures mean little."""

    def on_one_worker() -> tuple[dict[str, Any], dict[str, dict[str, int]], dict[str, float]]:
        with started(directory) as celery:
            load = equal_load(celery, m, window, timing.patience)
            return load, cancelled_and_moved(celery, k, timing), memory(celery, far)

    async def ours() -> tuple[dict[str, Any], dict[str, dict[str, int]]]:
        # One after the other: each stack migrates its store with Alembic, whose context is global.
        killed = await nudgeflow.killed_before_burst(burst, lead, timing.patience)
        return killed, await nudgeflow.cancelled_and_moved(k, timing.lead, timing.spread, timing.settle)

    (load, theirs_changes, mem), (ours_killed, changes), theirs, ahead = await asyncio.gather(
        asyncio.to_thread(on_one_worker),
        ours(),
        asyncio.to_thread(
            on_a_fresh_worker,
            directory,
            timing.kill_visibility,
            lambda c: killed_before_burst(c, burst, lead, timing),
        ),
        asyncio.to_thread(
            on_a_fresh_worker, directory, timing.duplicate_visibility, lambda c: far_ahead(c, k, timing)
        ),
    )
    return Measured(load, ours_killed, theirs, ahead, changes, theirs_changes, mem)


async def run(
    m: int = 2000, window: float = 60.0, burst: int = 300, k: int = 200, far: int = 2000, quick: bool = False
) -> Report:
    timing = QUICK if quick else FULL
    params = {"m": m, "window_s": window, "burst": burst, "k": k, "far": far, "timing": asdict(timing)}
    report = Report("celery_baseline", params)
    directory = Path(tempfile.mkdtemp(prefix="nudgeflow-celery-"))
    lead = 8 + burst / 40
    measure = all_at_once if quick else one_by_one
    measured = await measure(directory, m, window, burst, lead, k, far, timing)
    load = measured.load
    cols = ["system", "p50 s", "p99 s", "max s", "missed", "duplicated"]
    row = [load["p50"], load["p99"], load["max"], load["missed"], load["duplicated"]]
    report.add(
        f"Equal load: {m} reminders over {window:.0f} s (nudgeflow: see reminders)", cols, [["celery", *row]]
    )
    report.data["equal_load"] = load

    ours, theirs = measured.ours_killed, measured.theirs_killed
    rows = [
        [name, r["p50"], r["p99"], r["max"], r["missed"], r["duplicated"]]
        for name, r in (("nudgeflow", ours), (f"celery, visibility {timing.kill_visibility:.0f} s", theirs))
    ]
    report.add(f"Worker SIGKILLed 6 s before a burst of {burst} reminders, back 4 s before it", cols, rows)
    report.note(
        f"with Celery's default visibility timeout ({3600} s) the burst would come about an hour late"
    )

    ahead, changes = measured.ahead, measured.ours_changes
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
    theirs_changes = measured.theirs_changes
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

    mem = measured.memory
    report.add(
        f"Celery worker memory (main + 2 prefork children), {far} reminders 1 h ahead",
        ["state", "RSS MiB"],
        [["idle", mem["idle"]], [f"{far} reminders reserved", mem["loaded"]]],
    )
    report.data["memory"] = mem
    shutil.rmtree(directory, ignore_errors=True)
    return report
