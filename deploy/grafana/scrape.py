"""Debian's Prometheus scraping one run's three endpoints every second, and its range queries."""

from __future__ import annotations

import importlib.util
import math
import re
import shutil
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import httpx

from bench.stack import Stack, until
from tests.ports import free_port

BINARY = Path("/usr/bin/prometheus")
SCRAPE_INTERVAL = "1s"
METRIC_NAME = re.compile(r"\b((?:nudgeflow|temporal)_[a-z_]+)")


@dataclass
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix time, value); NaN and infinite values left out


@dataclass
class Prometheus:
    url: str
    endpoints: dict[str, str]  # job -> the http URL of its /metrics
    declared: set[str] = field(default_factory=set)  # names the endpoints declare (# TYPE lines)

    async def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.get(f"{self.url}/api/v1/query_range", params=params)
        body = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus refused {expr!r}: {body.get('error', response.text[:300])}")
        return [
            Series(
                labels=result["metric"],
                points=[(float(t), float(v)) for t, v in result["values"] if math.isfinite(float(v))],
            )
            for result in body["data"]["result"]
        ]

    async def scraped_names(self) -> set[str]:
        """Every metric name Prometheus holds samples of."""
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.get(f"{self.url}/api/v1/label/__name__/values")
        return set(response.json()["data"])

    async def read_declared(self) -> None:
        """The families each endpoint declares, also those with no sample yet (a labelled counter
        shows only its # TYPE line until its first increment)."""
        async with httpx.AsyncClient(timeout=10) as http:
            for url in self.endpoints.values():
                for line in (await http.get(url)).text.splitlines():
                    if line.startswith("# TYPE "):
                        _, _, name, kind = line.split(maxsplit=3)
                        self.declared.add(name)
                        if kind == "histogram":
                            self.declared.update(f"{name}_{part}" for part in ("bucket", "sum", "count"))

    def why_empty(self, expr: str, scraped: set[str]) -> str:
        """Why a query returned no series: the name is not ours, never had a sample, or no label matched."""
        names = sorted(set(METRIC_NAME.findall(expr)))
        undeclared = [n for n in names if n not in self.declared and n not in scraped]
        unknown = [n for n in undeclared if not in_sdk_core(n)]
        if unknown:
            return f"NOT EXPORTED by any endpoint: {', '.join(unknown)}"
        if undeclared:
            return (
                f"zero in this run: {', '.join(undeclared)} not emitted yet (the Temporal SDK shows a "
                "counter only from its first increment; the name is in its core library)"
            )
        silent = [n for n in names if n not in scraped]
        if silent:
            return f"zero in this run: {', '.join(silent)} exported, never incremented"
        return "zero in this run: the metric is scraped, no series matched the selector's labels"


def in_sdk_core(name: str) -> bool:
    """Whether a temporal_* name is one the Temporal SDK's core library can emit (it names its metrics
    without the prefix, and PrometheusConfig(counters_total_suffix=True) adds `_total`). A search of
    the library's bytes: it catches a misspelt name, not a short made-up one."""
    if not name.startswith("temporal_"):
        return False
    base = re.sub(r"_(total|bucket|sum|count)$", "", name.removeprefix("temporal_"))
    return base.encode() in _sdk_core()


@cache
def _sdk_core() -> bytes:
    spec = importlib.util.find_spec("temporalio.bridge.temporal_sdk_bridge")
    return b"" if spec is None or spec.origin is None else Path(spec.origin).read_bytes()


def config(endpoints: dict[str, str]) -> str:
    """prometheus.yml for the run: one static target per job (a few lines, written without a YAML library)."""
    jobs = []
    for job, url in endpoints.items():
        address = url.removeprefix("http://").split("/", 1)[0]
        jobs.append(
            f'  - job_name: "{job}"\n'
            f'    metrics_path: "/metrics"\n'
            f'    static_configs:\n      - targets: ["{address}"]\n'
        )
    header = f'global:\n  scrape_interval: "{SCRAPE_INTERVAL}"\n  evaluation_interval: "15s"\n'
    return header + "scrape_configs:\n" + "".join(jobs)


def binary() -> str:
    if BINARY.exists():
        return str(BINARY)
    found = shutil.which("prometheus")
    if found is None:
        raise SystemExit(
            f"{BINARY} is missing: install Debian's Prometheus with `apt-get install -y prometheus` "
            "(the package's service need not run; this script starts its own)"
        )
    return found


async def start(stack: Stack, endpoints: dict[str, str]) -> Prometheus:
    """Prometheus in the stack's directory, on a free loopback port, once it scrapes every endpoint."""
    directory = stack.dir / "prometheus"
    directory.mkdir()
    (directory / "prometheus.yml").write_text(config(endpoints))
    port = free_port()
    argv = [
        binary(),
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1d",
        "--log.level=warn",
    ]
    process = stack.spawn("prometheus", argv)
    stack.others.append(process)  # Stack.stop() ends it with the rest
    prometheus = Prometheus(f"http://127.0.0.1:{port}", endpoints)
    async with httpx.AsyncClient(timeout=2) as http:

        async def scraping_all() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"prometheus exited; see {stack.dir / 'prometheus.log'}")
            try:
                targets: dict[str, list[dict[str, str]]] = (
                    await http.get(f"{prometheus.url}/api/v1/targets")
                ).json()["data"]
            except (httpx.TransportError, ValueError, KeyError):
                return False
            return sum(t["health"] == "up" for t in targets["activeTargets"]) == len(endpoints)

        if await until(scraping_all, time.time() + 60):
            return prometheus
    raise RuntimeError(f"prometheus did not scrape all of {sorted(endpoints)}; see {stack.dir}")
