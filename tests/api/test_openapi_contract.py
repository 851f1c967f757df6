"""The API answers what its published OpenAPI schema (`/openapi.json`) says, probed by schemathesis.

Every operation a backend calls with its tenant key, the probes, /metrics and the calendar link,
with valid and invalid input: no 5xx, every status, content type and body documented. The inbound
webhooks are signed by providers, not keyed by tenants (tests/channels covers them); the staff
console and its codec endpoint are HTML forms and a staff session (tests/staff).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings
from domain.contacts import Contact
from domain.deliveries import Attachment, DeliveryDraft, DeliveryOutcome, DeliveryStatus
from store import InboundEventKey, Store, migrate

KEY = {"Authorization": "Bearer demo-key"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def published_schema(data_dir: Path) -> dict[str, Any]:
    """What `/openapi.json` serves; read at collection, so the app is built without its lifespan."""
    return create_app(Settings(env="development", data_dir=data_dir)).openapi()


with tempfile.TemporaryDirectory() as folder:  # development secrets are generated there
    contract = (
        schemathesis.openapi.from_dict(published_schema(Path(folder)))
        .include(path_regex="^/(v1/|healthz$|readyz$|metrics$|c/)")
        .exclude(path_regex="^/v1/inbound/")
    )


async def seed(database_url: str) -> None:
    """A contact, a message with its attempt and callback, a dead letter: responses with something in them."""
    store = Store(database_url)
    try:
        await store.ensure_tenant("demo", "Demo clinic", "demo-key")
        await store.upsert_contact("demo", Contact(id="p-1", name="Anna", phone="+447700900001"))
        at = datetime(2030, 3, 14, 9, 0, tzinfo=UTC)
        draft = DeliveryDraft(
            tenant="demo",
            idempotency_key="appointment:demo:a-1/e-1/confirmation",
            subject="a-1",
            workflow_id="appointment:demo:a-1",
            step="confirmation",
            contact_id="p-1",
            template="appointment_confirmed",
            scheduled_for=at,
        )
        row, _ = await store.begin_delivery(draft)
        invite = Attachment(filename="visit.ics", content_type="text/calendar", content="BEGIN:VCALENDAR")
        sent = DeliveryOutcome(
            status=DeliveryStatus.SENT,
            channel="sms",
            provider="twilio",
            body="See you on 14 March",
            attachments=[invite],
            provider_message_id="SM1",
            cost=0.05,
            sent_at=at,
        )
        await store.finish_delivery(row.id, sent)
        await store.record_status("twilio", "SM1", DeliveryStatus.DELIVERED, at=at)
        dead = InboundEventKey(source="/crm", event_id="e-dead", type="appointment.confirmed", payload={})
        await store.claim_events("demo", [dead.model_copy(update={"workflow_id": "appointment:demo:a-2"})])
        await store.bury_event("demo", ("/crm", "e-dead"), "RPCError: Blob data size exceeds limit.")
    finally:
        await store.close()


@pytest.fixture(scope="module")
def api(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[asgi.ASGIClient]:
    """The app on a real SQLite store and the dev server, its lifespan run by schemathesis's client."""
    data = tmp_path_factory.mktemp("contract")
    database_url = f"sqlite+aiosqlite:///{data / 'nudgeflow.db'}"
    migrate(database_url)
    asyncio.run(seed(database_url))
    config = Settings(
        env="development",
        data_dir=data,
        database_url=database_url,
        temporal_address=dev_env.client.service_client.config.target_host,
        task_queue="openapi-contract",
    )
    with asgi.get_client(cast(asgi.ASGIApp, create_app(config))) as client:
        assert client.get("/openapi.json").json() == published_schema(
            data
        )  # the schema probed is the one served
        yield client
    asgi.shutdown_lifespans()


@contract.parametrize()
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_what_its_openapi_schema_says(case: Case[Any], api: asgi.ASGIClient) -> None:
    case.call_and_validate(base_url=api.base_url, session=api, headers=KEY, checks=CHECKS)


def test_the_frameworks_own_4xx_are_problems_too(api: asgi.ASGIClient) -> None:
    unknown = api.get("/v1/nothing-here", headers=KEY)
    wrong_method = api.delete("/v1/settings", headers=KEY)
    not_utf8 = api.put("/v1/settings", headers={**KEY, "Content-Type": "application/json"}, data=b'{"\xff"}')
    no_key = api.get("/v1/settings")

    for response, status in ((unknown, 404), (wrong_method, 405), (not_utf8, 400), (no_key, 401)):
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == status and response.json()["title"]
    assert "GET" in wrong_method.headers["allow"]
    assert no_key.headers["www-authenticate"] == "Bearer"


def test_the_probed_store_has_a_message_with_its_attempts_and_a_dead_letter(api: asgi.ASGIClient) -> None:
    log = api.get("/v1/deliveries", params={"attempts": "true", "contact_id": "p-1"}, headers=KEY).json()
    plain = api.get("/v1/deliveries", params={"contact_id": "p-1"}, headers=KEY).json()

    (message,) = log["deliveries"]
    assert [a["status"] for a in message["attempts"]] == ["sent"]
    assert [e["status"] for e in message["events"]] == ["delivered"]
    assert "attempts" not in plain["deliveries"][0] and "events" not in plain["deliveries"][0]
    assert [d["id"] for d in api.get("/v1/events/dead", headers=KEY).json()["dead"]] == ["e-dead"]


def test_quiet_hours_are_wall_clock_times_without_an_offset(api: asgi.ASGIClient) -> None:
    saved = api.put("/v1/settings", headers=KEY, json={"quiet_hours": {"start": "21:30", "end": "08:00"}})
    with_offset = {"quiet_hours": {"start": "21:00+03:00", "end": "09:00"}}
    refused = api.put("/v1/settings", headers=KEY, json=with_offset)

    assert saved.json()["quiet_hours"] == {"start": "21:30:00", "end": "08:00:00"}
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["body.quiet_hours.start"]


def test_durations_are_written_in_days_never_in_years_of_365_days(api: asgi.ASGIClient) -> None:
    saved = api.put("/v1/settings", headers=KEY, json={"feedback_delay": "P1Y35D", "feedback_window": "P7D"})

    assert saved.status_code == 200, saved.text
    assert (saved.json()["feedback_delay"], saved.json()["feedback_window"]) == ("P400D", "P7D")
