"""Record finished runs of every workflow as JSON histories for the replay test.

Run after a change to the workflows' command sequence (guarded by `workflow.patched`), into a new
folder named for that shape; the older folders stay, so runs started before it must still replay:
    .venv/bin/python -m tests.replay.record_histories v2-local-send
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from datetime import time, timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.settings import TenantSettings
from store import Store, migrate
from tests.factories import appointment, chat_message, invoice, lesson
from tests.workflows.harness import Clinic, running_clinic

HISTORIES = Path(__file__).with_name("histories")


async def _appointment(clinic: Clinic) -> str:
    starts_at = await clinic.now() + timedelta(days=2)
    await clinic.post("appointment.requested", appointment("r-1", starts_at), sequence=1)
    await clinic.post("appointment.confirmed", appointment("r-1", starts_at), sequence=2)
    await clinic.advance(timedelta(days=1, hours=2), "r-1")
    await clinic.post(
        "appointment.cancelled", {"appointment_id": "r-1", "cancelled_by": "patient"}, sequence=3
    )
    return "r-1"


async def _lesson(clinic: Clinic) -> str:
    starts_at = await clinic.now() + timedelta(days=2)
    await clinic.post("lesson.scheduled", lesson("r-2", starts_at, trial=True), sequence=1)
    await clinic.advance_to(starts_at + timedelta(hours=1), "lesson:r-2")
    await clinic.post("lesson.completed", {"lesson_id": "r-2"}, sequence=2)
    await clinic.post("feedback.submitted", {"subject_id": "r-2", "rating": 5, "subject_kind": "lesson"})
    await clinic.advance(timedelta(days=8), "lesson:r-2")
    return "lesson:r-2"


async def _invoice(clinic: Clinic) -> str:
    due = await clinic.now() + timedelta(days=1)
    await clinic.post("invoice.issued", invoice("r-3", due), sequence=1)
    await clinic.advance(timedelta(days=2), "invoice:r-3")
    await clinic.post("invoice.paid", invoice("r-3", due), sequence=2)
    return "invoice:r-3"


async def _chat(clinic: Clinic) -> str:
    await clinic.post("chat.message_sent", chat_message("r-4", "m-1"))
    await clinic.advance(timedelta(seconds=6), "chat:r-4")
    await clinic.post("chat.message_read", chat_message("r-4", "m-1"))
    await clinic.advance(timedelta(days=2), "chat:r-4")
    return "chat:r-4"


async def main(version: str) -> None:
    folder_out = HISTORIES / version
    folder_out.mkdir(parents=True, exist_ok=True)
    server = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(server), data_converter=pydantic_data_converter
    )
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/replay.db"
        migrate(url)
        store = Store(url)
        async with running_clinic(env, store, f"replay-{uuid.uuid4()}") as clinic:
            await store.put_settings(clinic.tenant, TenantSettings(timezone="Europe/Moscow"))
            await clinic.wait_until_local(time(12, 0))
            for scenario in (_appointment, _lesson, _invoice, _chat):
                ref = await scenario(clinic)
                handle = env.client.get_workflow_handle(clinic.workflow_id(ref))
                await handle.result()
                history = await handle.fetch_history()
                name = ref.split(":")[0] if ":" in ref else "appointment"
                (folder_out / f"{name}.json").write_text(history.to_json())
                print(f"recorded {name}: {len(history.events)} events")
        await store.close()
    await env.shutdown()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1]))
