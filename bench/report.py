"""What a benchmark reports: percentiles, a printed table, and a small JSON file under bench/results/."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def spread(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p99 and max, rounded to the millisecond: what every latency row shows."""
    return {
        "p50": _ms(percentile(values, 50)),
        "p99": _ms(percentile(values, 99)),
        "max": _ms(max(values) if values else None),
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line
    )
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        # Other work on this shared machine skews the figures; the load says how much.
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in text)) if text else len(c) for i, c in enumerate(columns)]
    lines = [f"\n{title}", "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    # The first column names the row: left-aligned; figures right-aligned.
    lines += [
        "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in text
    ]
    return "\n".join(lines)


def results_name(benchmark: str, workers: int = 1) -> str:
    """`<benchmark>[_<store>][_<N>_workers]`: a run on PostgreSQL (BENCH_DATABASE) or with more
    workers saves beside the default one instead of over it."""
    store = os.environ.get("BENCH_DATABASE", "sqlite")
    name = benchmark if store == "sqlite" else f"{benchmark}_{store}"
    return name if workers == 1 else f"{name}_{workers}_workers"


class Report:
    """One benchmark's figures: printed as tables, saved as `<results>/<name>.json`."""

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        self.name = name
        self.params = params
        self.began = time.monotonic()
        self.at = datetime.now(UTC).isoformat(timespec="seconds")
        self.machine = machine()
        self.tables: list[dict[str, Any]] = []
        self.notes: list[str] = []
        # Figures other benchmarks may quote (the side-by-side summary); saved with the tables.
        self.data: dict[str, Any] = {}

    def add(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.tables.append({"title": title, "columns": list(columns), "rows": [list(r) for r in rows]})
        print(table(title, columns, rows), flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def save(self, results: Path = RESULTS) -> Path:
        results.mkdir(parents=True, exist_ok=True)
        path = results / f"{self.name}.json"
        payload = {
            "benchmark": self.name,
            "at": self.at,
            "seconds": round(time.monotonic() - self.began, 1),
            "machine": self.machine,
            "params": self.params,
            "store": os.environ.get("BENCH_DATABASE", "sqlite"),
            "tables": self.tables,
            "notes": self.notes,
            "data": self.data,
        }
        path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
        return path
