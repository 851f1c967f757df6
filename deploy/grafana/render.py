"""`python -m deploy.grafana.render` (`make dashboard`): docs/dashboard.png, the Grafana dashboard
deploy/grafana/nudgeflow.json drawn from Prometheus over a real run of the product.

Grafana cannot be installed here, so this draws the panels itself. It starts the product as separate
processes (bench/stack.py: Temporal's dev server, the API, one worker.py, SQLite) with the worker's
providers pointed at the fake ones, Debian's Prometheus scraping the API's /metrics and the worker's
two endpoints every second, then drives about four minutes of bookings and reminders
(deploy/grafana/traffic.py). Each panel's queries run against Prometheus's query_range API with the
dashboard's variables set (all tenants), the page is drawn as HTML with SVG (draw.py) and Debian's
Chromium takes the screenshot. At the end it lists every query that returned no series, and why.
Needs /usr/bin/prometheus (`apt-get install -y prometheus`) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from bench.stack import ROOT, Stack
from deploy.grafana import scrape
from deploy.grafana.draw import LABEL, WIDTH, Target, Window, page
from deploy.grafana.traffic import HANG_S, SETTINGS, Traffic
from tests.e2e.faults import Providers
from tests.ports import free_port
from tests.staff.server import CHROMIUM, CHROMIUM_ARGS

DASHBOARD = ROOT / "deploy" / "grafana" / "nudgeflow.json"
OUT = ROOT / "docs" / "dashboard.png"
RATE_INTERVAL = "15s"  # Grafana would take 4 scrapes (4 s): too jumpy to read in a picture
STEP_S = 2.0
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")  # ${x}, ${x:fmt}, $x, [[x]]


def variables(dashboard: dict[str, Any], window: Window) -> dict[str, str]:
    """What Grafana puts in place of each variable: every tenant, and the intervals of this picture."""
    values = {"__rate_interval": RATE_INTERVAL, "__interval": f"{window.step:g}s"}
    values["__range"] = f"{round(window.end - window.start)}s"
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("includeAll"):
            values[variable["name"]] = variable.get("allValue") or ".*"
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    def value(found: re.Match[str]) -> str:
        return values.get(next(name for name in found.groups() if name), found.group(0))

    return VARIABLE.sub(value, expr)


async def run() -> tuple[str, list[str]]:
    """The run drawn as a page, and the queries that returned no series."""
    dashboard = json.loads(DASHBOARD.read_text())
    providers = Providers(hang_seconds=HANG_S).start()
    try:
        async with Stack(settings=SETTINGS) as stack:
            worker_port, sdk_port = free_port(), free_port()
            env = {
                **stack.env,
                **providers.env(),
                "NUDGEFLOW_WORKER_METRICS_PORT": str(worker_port),
                "NUDGEFLOW_TEMPORAL_METRICS_PORT": str(sdk_port),
            }
            await stack.start_api()
            worker = stack.spawn("worker-0", [sys.executable, "worker.py"], env)
            stack.workers.append(worker)
            await stack.wait_polling(worker)
            endpoints = {
                "nudgeflow-api": f"{stack.api_url}/metrics",
                "nudgeflow-worker": f"http://127.0.0.1:{worker_port}/metrics",
                "temporal-sdk": f"http://127.0.0.1:{sdk_port}/metrics",
            }
            prometheus = await scrape.start(stack, endpoints)
            print(f"prometheus {prometheus.url} scraping {', '.join(endpoints.values())}", flush=True)
            traffic = Traffic(stack.api_url, providers)
            began = time.time()
            await traffic.run()
            await asyncio.sleep(3)  # the last scrapes
            window = Window(began - 10, time.time(), STEP_S)
            load = os.getloadavg()[1]  # about the run's own minutes: how busy the cores were
            answers, empty = await query(prometheus, dashboard, window)
            print(traffic.summary(), flush=True)
    finally:
        providers.stop()
    return page(dashboard, answers, window, header(window, traffic, load)), empty


async def query(
    prometheus: scrape.Prometheus, dashboard: dict[str, Any], window: Window
) -> tuple[dict[int, list[Target]], list[str]]:
    values = variables(dashboard, window)
    await prometheus.read_declared()
    scraped = await prometheus.scraped_names()
    answers: dict[int, list[Target]] = {}
    empty: list[str] = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = substitute(target["expr"], values)
            series = await prometheus.query_range(expr, window.start, window.end, window.step)
            found = Target(target["refId"], expr, target.get("legendFormat", ""), series)
            answers.setdefault(panel["id"], []).append(found)
            where = f'"{panel["title"]}" {target["refId"]}: {target["expr"]}'
            if not series:
                found.why_empty = prometheus.why_empty(expr, scraped)
                empty.append(f"{where}\n      {found.why_empty}")
            elif lacking := {
                n for n in LABEL.findall(found.legend) if all(n not in s.labels for s in series)
            }:
                empty.append(f"{where}\n      no series has the label its legend names: {', '.join(lacking)}")
    return answers, empty


def header(window: Window, traffic: Traffic, load: float) -> str:
    start, end = (datetime.fromtimestamp(t, UTC) for t in (window.start, window.end))
    span = f"{start:%Y-%m-%d %H:%M:%S} – {end:%H:%M:%S} UTC ({(end - start).total_seconds() / 60:.1f} min)"
    return (
        "<h1>nudgeflow dashboard (deploy/grafana/nudgeflow.json) rendered from Prometheus by "
        "deploy/grafana/render.py — Grafana is not installable on this machine</h1>"
        f"<p>Run: {span}. The product as separate processes (Temporal dev server, API, one worker, "
        "SQLite) with its providers pointed at fake ones (tests/fakes) that refuse, fail or hang on "
        "some calls; Debian's Prometheus scraping the API and the worker's two endpoints every 1 s. "
        f"{os.cpu_count()} cores; 5-minute load average at the end {load:.1f} (other work on the "
        "machine included).</p>"
        f"<p>{escape(traffic.summary())}</p>"
        '<div class="bar"><span>Data source: Prometheus (this run)</span><span>Tenant: All (.*)</span>'
        f"<span>$__rate_interval = {RATE_INTERVAL}</span><span>step {window.step:g} s</span>"
        f"<span>{start:%H:%M:%S} to {end:%H:%M:%S} UTC</span></div>"
    )


async def screenshot(html: str, out: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        view = await browser.new_page(viewport={"width": WIDTH, "height": 900})
        await view.set_content(html)
        await view.screenshot(path=str(out), full_page=True)
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"the PNG (default {OUT.relative_to(ROOT)})")
    parser.add_argument("--html", type=Path, help="also keep the page drawn, here")
    arguments = parser.parse_args()
    scrape.binary()  # say what is missing before four minutes of work, not after
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    html, empty = asyncio.run(run())
    if arguments.html is not None:
        arguments.html.write_text(html)
    asyncio.run(screenshot(html, arguments.out))
    print(f"dashboard drawn: {arguments.out}")
    print(f"queries with no series (or a legend naming a label no series has): {len(empty)}")
    for line in empty:
        print(f"  - {line}")


if __name__ == "__main__":
    main()
