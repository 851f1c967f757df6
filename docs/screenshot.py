"""Take docs/staff-editor.png: the staff editor with a live preview, in Debian's Chromium.

.venv/bin/python docs/screenshot.py    (needs /usr/bin/chromium; starts its own Temporal dev server)
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from store import Store, migrate
from tests.staff.server import CHROMIUM, CHROMIUM_ARGS, serving

OUT = Path(__file__).resolve().parent / "staff-editor.png"


async def main() -> None:
    url = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/screenshot.db"
    migrate(url)
    store = Store(url)
    temporal = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"), dev_server_log_level="error"
    )
    try:
        async with serving(store, temporal.client) as base, async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = await browser.new_page(base_url=base, viewport={"width": 1280, "height": 820})
            await page.goto("/staff/login?lang=ru")
            await page.fill("input[name=email]", "admin@demo.local")
            await page.fill("input[name=password]", "demo-password")
            await page.click("button[type=submit]")
            await page.goto("/staff/templates/visit_reminder/ru/sms")
            await page.fill(
                "#body",
                "Клиника «Улыбка»: ждём вас {{ appointment.starts_at | relative_day }} в "
                "{{ appointment.starts_at | time }}, {{ appointment.location.address }}. "
                "Возьмите паспорт. Придёте? Ответьте 1 — да, 2 — нет.",
            )
            await page.locator("#preview-body").filter(has_text="паспорт").wait_for()
            await page.screenshot(path=str(OUT), full_page=True)
            await browser.close()
    finally:
        await temporal.shutdown()
        await store.close()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
