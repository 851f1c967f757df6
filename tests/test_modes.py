"""NUDGEFLOW_ENV: development brings the demo and its own secrets; production brings neither."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import ROOT, InsecureConfiguration, Settings
from store import Store
from store.staff import Role
from tests.store.backends import database_url

SECRET = "p" * 40
PAYLOAD_KEYS = "k1:" + "cHBw" * 10 + "cHA="  # 32 bytes of "p", base64
DEMO = ("admin@demo.local", "demo-password")


def production(**secrets: str) -> Settings:
    secrets = {"payload_keys": PAYLOAD_KEYS} | secrets  # tests/test_payload_codec.py: without it
    return Settings(database_url="sqlite://", env="production", **secrets)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "secrets",
    [
        {},
        {"secret_key": SECRET},
        {"secret_key": SECRET, "reply_secret": "nudgeflow-dev-reply-secret"},  # the old public default
        {"secret_key": SECRET, "reply_secret": "short"},
    ],
)
def test_production_refuses_a_missing_or_known_secret(secrets: dict[str, str]) -> None:
    with pytest.raises(InsecureConfiguration, match="NUDGEFLOW_REPLY_SECRET"):
        create_app(production(**secrets))


def _without_secrets() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUDGEFLOW_")}
    return env | {"NUDGEFLOW_ENV": "production", "NUDGEFLOW_DATA_DIR": "/nonexistent/nudgeflow"}


@pytest.mark.parametrize("argv", [["cli.py", "run"], ["worker.py"]])
def test_the_production_stack_refuses_to_start_without_its_secrets(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=_without_secrets(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "NUDGEFLOW_SECRET_KEY" in done.stderr and "NUDGEFLOW_REPLY_SECRET" in done.stderr
    assert "NUDGEFLOW_PAYLOAD_KEYS" in done.stderr
    assert "is running" not in done.stdout


async def test_production_with_its_secrets_creates_no_demo(
    tmp_path: Path, dev_env: WorkflowEnvironment
) -> None:
    store = Store(database_url("sqlite", tmp_path))
    try:
        app = create_app(
            production(secret_key=SECRET, reply_secret=SECRET), store=store, temporal=dev_env.client
        )
        async with app.router.lifespan_context(app):
            pass
        assert await store.tenant_for_api_key("demo-key") is None
        assert await store.authenticate_staff(*DEMO) is None
    finally:
        await store.close()


async def test_production_refuses_a_store_that_still_has_the_demo_credentials(
    tmp_path: Path, dev_env: WorkflowEnvironment
) -> None:
    store = Store(database_url("sqlite", tmp_path))
    try:
        await store.ensure_tenant("demo", "Demo clinic", "demo-key")  # a database begun in development
        await store.ensure_staff(DEMO[0], "demo", Role.ADMIN, DEMO[1])
        app = create_app(
            production(secret_key=SECRET, reply_secret=SECRET), store=store, temporal=dev_env.client
        )
        with pytest.raises(InsecureConfiguration, match=r"demo-key.*demo-password"):
            async with app.router.lifespan_context(app):
                pass
    finally:
        await store.close()


async def test_development_creates_the_demo_once_and_never_resets_it(
    tmp_path: Path, dev_env: WorkflowEnvironment
) -> None:
    store = Store(database_url("sqlite", tmp_path))
    try:
        app = create_app(Settings(database_url="sqlite://"), store=store, temporal=dev_env.client)
        async with app.router.lifespan_context(app):
            assert await store.tenant_for_api_key("demo-key") == "demo"
            assert await store.authenticate_staff(*DEMO) is not None
        # The developer changes the demo's key and password; the next start keeps them.
        await store.ensure_tenant("demo", "Demo clinic", "my-own-key")
        await store.ensure_staff(DEMO[0], "demo", Role.ADMIN, "my-own-password")
        async with app.router.lifespan_context(app):
            pass
        assert await store.tenant_for_api_key("demo-key") is None
        assert await store.authenticate_staff(*DEMO) is None
    finally:
        await store.close()


def test_development_secrets_are_generated_once_per_install(tmp_path: Path) -> None:
    first, again = Settings(data_dir=tmp_path), Settings(data_dir=tmp_path)
    assert first.session_secret() == again.session_secret()
    assert first.reply_signing_secret() == again.reply_signing_secret() != first.session_secret()
    assert len(first.reply_signing_secret()) >= 32
    kept = tmp_path / "secrets" / "reply"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert Settings(data_dir=tmp_path / "other").reply_signing_secret() != first.reply_signing_secret()
