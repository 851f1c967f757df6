"""Where the time goes: py-spy samples the worker and the API while a burst of events runs end to end.

`python -m bench.profile --events 400` prints the top frames (own time and inclusive time) of each
process and keeps the collapsed stacks (profile-*.txt) in $PROFILE_DIR, else the temp dir, for a flame graph.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from bench.appointments import STRUCTURED, at, confirmed, wait_for_sent
from bench.ingest import drive, make_events
from bench.reminders import start_waiting
from bench.report import Report
from bench.stack import Stack
from domain.settings import TenantSettings


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise RuntimeError("py-spy is missing: `pip install -e '.[bench]'`")
    return found


def record(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    argv = [py_spy(), "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200"]
    # --gil: only samples that hold the GIL, i.e. Python CPU time, not threads waiting on I/O.
    argv += ["--format", "raw", "--output", str(out), "--nonblocking", "--gil"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def keep(collapsed: Iterable[Path]) -> None:
    """The collapsed stacks, for a flame graph, under PROFILE_DIR (default: the system's temp dir)."""
    where = Path(os.environ.get("PROFILE_DIR", tempfile.gettempdir()))
    where.mkdir(parents=True, exist_ok=True)
    for path in collapsed:
        shutil.copy(path, where / path.name)
        print(f"collapsed stacks: {where / path.name}")


def top_frames(collapsed: Path, limit: int = 25) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(samples, own-time frames, inclusive frames) from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    pending = ""
    for line in collapsed.read_text().splitlines():
        # A frame's name may hold a newline (code compiled from a string): its stack spans lines.
        stack, _, count = (pending + line).rpartition(" ")
        if not count.isdigit():
            pending += line + " "
            continue
        pending, n = "", int(count)
        frames = [_short(f) for f in stack.split(";")]
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    return total, own.most_common(limit), inclusive.most_common(limit * 2)


def _short(frame: str) -> str:
    # "send_message (activities/send.py:88)" -> "send_message (activities/send.py)": lines split hot spots.
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        path = path.split(marker)[-1]
    return f"{name} ({path})"


async def run(
    events: int = 400,
    clients: int = 16,
    seconds: int = 20,
    tuning: dict[str, Any] | None = None,
    opted_out: bool = False,
) -> Report:
    """Profile confirmations (render, .ics, send) or, with opted_out, bare lifecycle starts (skip)."""
    params = {"events": events, "clients": clients, "seconds": seconds, "opted_out": opted_out}
    report = Report("profile-setup" if opted_out else "profile", {**params, "tuning": tuning or {}})
    async with Stack(tuning=tuning) as stack:
        outs = {"worker": stack.dir / "profile-worker.txt", "api": stack.dir / "profile-api.txt"}
        await stack.start_api()
        worker = stack.start_worker()
        await stack.wait_polling(worker)
        assert stack.api is not None
        spies = [record(worker.pid, seconds, outs["worker"]), record(stack.api.pid, seconds, outs["api"])]
        batch = make_events(events, "profile", opted_out=["service"] if opted_out else [])
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:

            async def post(index: int) -> None:
                await http.post("/v1/events", headers=STRUCTURED, content=json.dumps(batch[index]))

            await drive(events, clients, post)
        await wait_for_sent(stack.store, "confirmed", events, patience=seconds)
        for spy in spies:
            spy.wait()
        tops = {name: top_frames(out) for name, out in outs.items()}
        keep(outs.values())
    for name, (total, own, inclusive) in tops.items():
        report.add(
            f"{name}: own time, {total} samples",
            ["frame", "%"],
            [[f, round(100 * n / total, 1)] for f, n in own],
        )
        report.add(
            f"{name}: inclusive time", ["frame", "%"], [[f, round(100 * n / total, 1)] for f, n in inclusive]
        )
    return report


async def reminders_run(m: int = 1000, window: int = 30, tuning: dict[str, Any] | None = None) -> Report:
    """Profile the worker while m reminders come due over `window` seconds (the timer -> send path)."""
    report = Report("profile-reminders", {"m": m, "window_s": window, "tuning": tuning or {}})
    async with Stack(tuning=tuning, settings={"reminder_offsets": ["PT30S"]}) as stack:
        worker = stack.start_worker()
        await stack.wait_polling(worker)
        settings = TenantSettings.model_validate(stack.settings)
        t0 = time.time() + 5 + m / 40
        due = iter(enumerate(range(m)))

        async def starter() -> None:
            for i, _ in due:
                moment = t0 + i * window / m
                await start_waiting(stack, confirmed(f"prof-{i}", at(moment + 30)), settings)

        await asyncio.gather(*(starter() for _ in range(16)))
        await asyncio.sleep(max(0.0, t0 - time.time()))
        cpu_before = stack.cpu()
        record(worker.pid, window, stack.dir / "profile-worker.txt").wait()
        cpu = {name: round((stack.cpu()[name] - cpu_before[name]) / window, 2) for name in cpu_before}
        total, own, inclusive = top_frames(stack.dir / "profile-worker.txt")
        keep([stack.dir / "profile-worker.txt"])
    report.add(
        f"worker: own time, {total} samples", ["frame", "%"], [[f, round(100 * n / total, 1)] for f, n in own]
    )
    report.add(
        "worker: inclusive time", ["frame", "%"], [[f, round(100 * n / total, 1)] for f, n in inclusive]
    )
    report.add("cores busy meanwhile", ["process", "cores"], list(cpu.items()))
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--tuning", default="{}")
    parser.add_argument("--opted-out", action="store_true", help="patients opted out: no render, no .ics")
    parser.add_argument("--reminders", type=int, default=0, help="profile M reminders due over --seconds")
    args = parser.parse_args()
    tuning = json.loads(args.tuning)
    if args.reminders:
        asyncio.run(reminders_run(args.reminders, args.seconds, tuning)).save()
    else:
        asyncio.run(run(args.events, seconds=args.seconds, tuning=tuning, opted_out=args.opted_out)).save()
