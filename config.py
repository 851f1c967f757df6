"""Process configuration from the environment, with embedded defaults for a laptop."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    temporal_address: str = Field("localhost:7233", validation_alias=_env("TEMPORAL_ADDRESS"))
    temporal_namespace: str = Field("default", validation_alias=_env("TEMPORAL_NAMESPACE"))
    temporal_api_key: str | None = Field(None, validation_alias=_env("TEMPORAL_API_KEY"))
    temporal_tls: bool = Field(False, validation_alias=_env("TEMPORAL_TLS"))
    task_queue: str = Field("nudgeflow", validation_alias=_env("NUDGEFLOW_TASK_QUEUE"))
    data_dir: Path = Field(Path(".data"), validation_alias=_env("NUDGEFLOW_DATA_DIR"))
    database_url: str = Field("sqlite+aiosqlite:///.data/nudgeflow.db", validation_alias=_env("DATABASE_URL"))
    demo_api_key: str = Field("demo-key", validation_alias=_env("NUDGEFLOW_DEMO_API_KEY"))
    api_host: str = Field("127.0.0.1", validation_alias=_env("NUDGEFLOW_API_HOST"))
    api_port: int = Field(8000, validation_alias=_env("NUDGEFLOW_API_PORT"))
    temporal_ui_port: int = Field(8233, validation_alias=_env("NUDGEFLOW_TEMPORAL_UI_PORT"))
    # Lifecycles a worker keeps in memory (about 160 KiB each). One evicted before its timer fires is
    # replayed from its whole history first: keep at least every lifecycle with a message due within
    # the hour cached (bench/PROPOSALS.md: 1,000 cached at 2,000 reminders a minute left 383 unsent).
    max_cached_workflows: int = Field(4000, ge=1, validation_alias=_env("NUDGEFLOW_MAX_CACHED_WORKFLOWS"))
    # Temporal's workflow sandbox (see worker.workflow_runner): the tests and the replay check run every
    # workflow in it; the production worker runs without it by default, for capacity.
    workflow_sandbox: bool = Field(False, validation_alias=_env("NUDGEFLOW_WORKFLOW_SANDBOX"))
    # Seconds a lifecycle's next task waits for the worker that ran its last one before any worker
    # may take it: after a crash, how long reminders wait for a dead worker (Temporal's default: 10).
    sticky_queue_timeout: float = Field(3.0, gt=0, validation_alias=_env("NUDGEFLOW_STICKY_QUEUE_TIMEOUT"))
    # api/relay.py: requests that may signal their workflow themselves at once before later ones only
    # queue their events (0: every request only queues), and workflows the relay signals at once.
    relay_inline: int = Field(4, ge=0, validation_alias=_env("NUDGEFLOW_RELAY_INLINE"))
    relay_concurrency: int = Field(2, ge=1, validation_alias=_env("NUDGEFLOW_RELAY_CONCURRENCY"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
