"""`python -m bench`: run every benchmark (or those named), print their tables, save bench/results/*.json.

python -m bench                              # all, default sizes (about 26 minutes on 2 cores)
python -m bench reminders --sizes 2000 5000  # one benchmark, larger
python -m bench --smoke                      # every benchmark at a tiny size (the smoke test)
python -m bench --tuning '{"max_cached_workflows": 4000}'   # worker.build_worker tuning
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench import celery_baseline, end_to_end, footprint, ingest, recalls, reminders, render, sends
from bench.report import RESULTS, Report, table

ORDER = ("render", "sends", "ingest", "end_to_end", "reminders", "footprint", "recalls", "celery_baseline")
SMOKE: dict[str, dict[str, Any]] = {
    "render": {"count": 20},
    "sends": {"count": 5},
    "ingest": {"events": 20, "clients": 4},
    "end_to_end": {"events": 10, "clients": 4},
    "reminders": {"sizes": [20], "window": 4.0},
    "footprint": {"open_count": 20, "finished": 5, "lead": 12.0},
    "recalls": {"open_count": 20},
    "celery_baseline": {"m": 20, "window": 4.0, "burst": 10, "k": 8, "far": 20, "quick": True},
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("only", nargs="*", help=f"benchmarks to run, of {', '.join(ORDER)} (default: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that each one still works")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--tuning", default="{}", help="worker.build_worker keyword arguments, as JSON")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite", help="the store")
    parser.add_argument("--events", type=int, default=500, help="ingest: events posted")
    parser.add_argument("--clients", type=int, default=16, help="ingest, end_to_end: concurrent clients")
    parser.add_argument("--e2e-events", type=int, default=1000, help="end_to_end: events posted")
    parser.add_argument(
        "--workers", type=int, default=1, help="end_to_end, reminders: product workers (2: against one)"
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[500, 1000, 2000], help="reminders per minute"
    )
    parser.add_argument("--open", type=int, default=2000, help="footprint: open lifecycles (try 10000)")
    parser.add_argument("--finished", type=int, default=200, help="footprint: lifecycles run to their end")
    parser.add_argument("--recalls", type=int, default=10_000, help="recalls: open recalls due in 6 months")
    parser.add_argument("--celery-load", type=int, default=2000, help="celery: reminders in one minute")
    parser.add_argument("--far", type=int, default=2000, help="celery: reminders an hour ahead (memory)")
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(ORDER)
    if unknown:
        parser.error(f"no such benchmark: {', '.join(sorted(unknown))}")
    return args


def plan(args: argparse.Namespace) -> dict[str, Callable[[], Awaitable[Report]]]:
    tuning = json.loads(args.tuning)
    if args.smoke:
        sizes = {name: dict(kw) for name, kw in SMOKE.items()}
    else:
        sizes = {
            "render": {"count": 2000},
            "sends": {"count": 500},
            "ingest": {"events": args.events, "clients": args.clients},
            "end_to_end": {"events": args.e2e_events, "clients": args.clients, "workers": args.workers},
            "reminders": {"sizes": args.sizes, "workers": args.workers},
            "footprint": {"open_count": args.open, "finished": args.finished},
            "recalls": {"open_count": args.recalls},
            "celery_baseline": {"m": args.celery_load, "far": args.far},
        }
    for name in ("ingest", "end_to_end", "reminders", "footprint", "recalls"):
        sizes[name]["tuning"] = tuning
    modules = {
        "render": render,
        "sends": sends,
        "ingest": ingest,
        "end_to_end": end_to_end,
        "reminders": reminders,
        "footprint": footprint,
        "recalls": recalls,
        "celery_baseline": celery_baseline,
    }
    chosen = args.only or list(ORDER)
    return {name: partial(modules[name].run, **sizes[name]) for name in ORDER if name in chosen}


def summary(reports: dict[str, Report]) -> str | None:
    """nudgeflow, the bare floor and Celery in one table, from what this run measured."""
    rem, cel, foot = reports.get("reminders"), reports.get("celery_baseline"), reports.get("footprint")
    if rem is None or cel is None:
        return None
    m = cel.params["m"]
    per_minute = round(m * 60 / cel.params["window_s"])
    rows = []
    for system in ("floor", "nudgeflow"):
        found = [r for r in rem.data.get(system, []) if r["m"] == m]
        if found:
            rows.append([system, per_minute, found[0]["p99"], found[0]["missed"], found[0]["duplicated"]])
    load = cel.data["equal_load"]
    rows.append(["celery", per_minute, load["p99"], load["missed"], load["duplicated"]])
    text = table(
        "Side by side at equal load", ["system", "reminders/min", "p99 s", "unsent", "duplicated"], rows
    )
    if foot is not None:
        mem = cel.data["memory"]
        text += table(
            "Worker memory with many reminders far ahead",
            ["system", "reminders", "RSS MiB"],
            [
                ["nudgeflow", foot.data["open"], foot.data["open_mib"]],
                ["celery", cel.params["far"], mem["loaded"]],
            ],
        )
    return text


async def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    os.environ["BENCH_DATABASE"] = args.database
    reports: dict[str, Report] = {}
    began = time.monotonic()
    for name, run in plan(args).items():
        print(f"\n=== {name}", flush=True)
        report = await run()
        print(f"  saved {report.save(args.results)}", flush=True)
        reports[name] = report
    text = summary(reports)
    if text:
        print(text)
    print(f"\nbench: {len(reports)} benchmarks in {time.monotonic() - began:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
