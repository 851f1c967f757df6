"""Process configuration from the environment, with embedded defaults for a laptop."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent
# Values that were ever written in this code or its docs: as a secret they protect nothing.
KNOWN_DEFAULTS = frozenset(
    {"", "nudgeflow-dev-reply-secret", "test-reply-secret", "demo-key", "demo-password", "changeme", "secret"}
)
MIN_SECRET_LENGTH = 32
# Secrets a production process needs: (variable, what it protects).
PRODUCTION_SECRETS = {
    "NUDGEFLOW_SECRET_KEY": "signs the staff console's session cookie",
    "NUDGEFLOW_REPLY_SECRET": "signs the reply tokens of buttons and Telegram deep links",
    "NUDGEFLOW_PAYLOAD_KEYS": "encrypts personal data in Temporal's histories",
}
PAYLOAD_KEY_BYTES = 32  # AES-256-GCM


class InsecureConfiguration(SystemExit):
    """A production process was started without a secret it needs (or with a known default)."""


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
    # Seconds a worker may hold a workflow task: a task held by a worker that died waits this long
    # before another worker gets it (Temporal's default: 10; its maximum: 120). The SDK heartbeats a
    # task waiting on a longer local activity; a task slower in itself is cut and retried.
    workflow_task_timeout: float = Field(
        4.0, gt=0, le=120, validation_alias=_env("NUDGEFLOW_WORKFLOW_TASK_TIMEOUT")
    )
    # Workflow tasks and local activities (each send's first attempt runs as one, inside its task) a
    # worker runs at once; Temporal's default is 100 each. A task still running at the workflow task
    # timeout is cut and done again, and one event loop running 100 sends at once makes each wait
    # behind the others: 300 reminders due at one instant on an idle machine, 100 each cut 31-196
    # tasks (four runs), 20 none, reminders p50 7.0-7.9 s late against 8.5-10.3 s; a worker killed
    # mid-burst on a machine three busy loops filled, 100 cut 2,074 and reminders passed their
    # appointments' start, 20 none (bench/PROPOSALS.md, ninth round; `bench reminders` counts the cut
    # tasks of each run). The price: smaller group commits, a burst of new lifecycles recorded a little
    # slower (same round).
    max_concurrent_workflow_tasks: int = Field(
        20, ge=1, validation_alias=_env("NUDGEFLOW_MAX_CONCURRENT_WORKFLOW_TASKS")
    )
    max_concurrent_local_activities: int = Field(
        20, ge=1, validation_alias=_env("NUDGEFLOW_MAX_CONCURRENT_LOCAL_ACTIVITIES")
    )
    # Seconds a stopping worker (SIGTERM) lets running activities finish before it cancels them.
    worker_drain_timeout: float = Field(10.0, ge=0, validation_alias=_env("NUDGEFLOW_WORKER_DRAIN_TIMEOUT"))
    # The worker's Prometheus endpoints (0: off): nudgeflow's own metrics (deliveries, lateness,
    # provider calls) and the Temporal SDK's (task slots, schedule-to-start latency, sticky cache).
    worker_metrics_host: str = Field("127.0.0.1", validation_alias=_env("NUDGEFLOW_WORKER_METRICS_HOST"))
    worker_metrics_port: int = Field(
        9464, ge=0, le=65535, validation_alias=_env("NUDGEFLOW_WORKER_METRICS_PORT")
    )
    temporal_metrics_port: int = Field(
        9465, ge=0, le=65535, validation_alias=_env("NUDGEFLOW_TEMPORAL_METRICS_PORT")
    )
    # OpenTelemetry traces go to this OTLP/HTTP collector when set (tracing.py); the exporter reads
    # the other OTEL_* variables (headers, service name) itself.
    otlp_endpoint: str | None = Field(None, validation_alias=_env("OTEL_EXPORTER_OTLP_ENDPOINT"))
    # api/relay.py: requests that may signal their workflow themselves at once before later ones only
    # queue their events (0: every request only queues), and workflows the relay signals at once.
    relay_inline: int = Field(4, ge=0, validation_alias=_env("NUDGEFLOW_RELAY_INLINE"))
    relay_concurrency: int = Field(2, ge=1, validation_alias=_env("NUDGEFLOW_RELAY_CONCURRENCY"))
    # The relay adds senders up to this many while a backlog waits and Temporal answers quickly
    # (api/relay.Pace); equal to relay_concurrency, it keeps that many, fixed.
    relay_most_senders: int = Field(16, ge=1, validation_alias=_env("NUDGEFLOW_RELAY_MOST_SENDERS"))
    # Times Temporal may refuse one event (too big, an id too long) before it is dead-lettered
    # (`GET /v1/events/dead`); an outage is not a refusal and is waited out however long it lasts.
    relay_max_refusals: int = Field(5, ge=1, validation_alias=_env("NUDGEFLOW_RELAY_MAX_REFUSALS"))
    # Seconds a relay holds the events it took from the outbox before another API process may take
    # them (it renews the lease while it holds them): how long a crashed process's events wait.
    relay_lease: float = Field(60.0, ge=5, validation_alias=_env("NUDGEFLOW_RELAY_LEASE"))
    # Largest request body `POST /v1/events` reads (413 beyond); each event in it also stays under
    # 256 KiB (api/events.py MAX_EVENT_BYTES), whatever this says.
    max_body_bytes: int = Field(1024 * 1024, ge=1024, validation_alias=_env("NUDGEFLOW_MAX_BODY_BYTES"))
    # development: the demo tenant and admin, secrets generated once per install in the data dir.
    # production: no demo anything, and no start without every secret set (check_production).
    env: Literal["development", "production"] = Field("development", validation_alias=_env("NUDGEFLOW_ENV"))
    secret_key: SecretStr | None = Field(None, validation_alias=_env("NUDGEFLOW_SECRET_KEY"))
    reply_secret: SecretStr | None = Field(None, validation_alias=_env("NUDGEFLOW_REPLY_SECRET"))
    # Days a delivered event's payload (names, phones) stays in the outbox; 0 keeps it (api/retention.py).
    payload_retention_days: float = Field(
        7.0, ge=0, validation_alias=_env("NUDGEFLOW_PAYLOAD_RETENTION_DAYS")
    )
    # Mark the staff cookie `Secure` in development too (always in production).
    secure_cookies: bool = Field(False, validation_alias=_env("NUDGEFLOW_SECURE_COOKIES"))
    # "id:base64key,id:base64key": payloads to Temporal are encrypted with the first, and decrypted with
    # whichever one their key id names (workflows/codec.py), so an old key stays listed while histories
    # written with it live. SecretStr: never in a repr or a validation error.
    payload_keys: SecretStr | None = Field(None, validation_alias=_env("NUDGEFLOW_PAYLOAD_KEYS"))
    # Origins allowed to call /codec/* with the staff cookie (the Temporal UI); development adds the
    # embedded UI on localhost:NUDGEFLOW_TEMPORAL_UI_PORT.
    codec_cors_origins: str = Field("", validation_alias=_env("NUDGEFLOW_CODEC_CORS_ORIGINS"))
    demo_staff_email: str = Field("admin@demo.local", validation_alias=_env("NUDGEFLOW_DEMO_STAFF_EMAIL"))
    demo_staff_password: SecretStr = Field(
        SecretStr("demo-password"), validation_alias=_env("NUDGEFLOW_DEMO_STAFF_PASSWORD")
    )

    @property
    def production(self) -> bool:
        return self.env == "production"

    def check_production(self) -> None:
        """Refuse to run in production with a secret missing, short or known from this code."""
        if not self.production:
            return
        configured = {"NUDGEFLOW_SECRET_KEY": self.secret_key, "NUDGEFLOW_REPLY_SECRET": self.reply_secret}
        problems = [
            f"{name} ({PRODUCTION_SECRETS[name]}) {weakness}"
            for name, value in configured.items()
            if (weakness := _weakness(value)) is not None
        ]
        if (weakness := _payload_keys_weakness(self.payload_keys)) is not None:
            problems.append(
                f"NUDGEFLOW_PAYLOAD_KEYS ({PRODUCTION_SECRETS['NUDGEFLOW_PAYLOAD_KEYS']}) {weakness}"
            )
        if problems:
            raise InsecureConfiguration(
                "nudgeflow: NUDGEFLOW_ENV=production refuses to start:\n  " + "\n  ".join(problems)
            )

    def session_secret(self) -> str:
        return self._secret(self.secret_key, "session")

    def reply_signing_secret(self) -> str:
        return self._secret(self.reply_secret, "reply")

    def payload_keyring(self) -> list[tuple[str, bytes]]:
        """(key id, AES key) pairs, the current one first: NUDGEFLOW_PAYLOAD_KEYS, or in development
        one key generated per install (its id names the install's key, so a mix-up says so)."""
        if self.payload_keys is not None and self.payload_keys.get_secret_value().strip():
            return parse_payload_keys(self.payload_keys.get_secret_value())
        self.check_production()
        key = hashlib.sha256(development_secret(self.data_dir, "payload-key").encode()).digest()
        return [(f"dev-{hashlib.sha256(key).hexdigest()[:8]}", key)]

    def codec_origins(self) -> list[str]:
        origins = [
            origin.strip().rstrip("/") for origin in self.codec_cors_origins.split(",") if origin.strip()
        ]
        if not self.production:
            origins += [f"http://{host}:{self.temporal_ui_port}" for host in ("localhost", "127.0.0.1")]
        return origins

    def _secret(self, value: SecretStr | None, name: str) -> str:
        if value is not None and value.get_secret_value():
            return value.get_secret_value()
        self.check_production()  # production never reaches here with a secret missing
        return development_secret(self.data_dir, name)


def _weakness(value: SecretStr | None) -> str | None:
    if value is None or not value.get_secret_value():
        return "is not set"
    if value.get_secret_value() in KNOWN_DEFAULTS:
        return "is a known default value"
    if len(value.get_secret_value()) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    return None


def parse_payload_keys(text: str) -> list[tuple[str, bytes]]:
    """`id1:base64key,id2:base64key` as (id, key) pairs; a ValueError names the entry, never the key."""
    keyring: list[tuple[str, bytes]] = []
    for n, entry in enumerate((part.strip() for part in text.split(",") if part.strip()), start=1):
        key_id, colon, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not colon or not key_id:
            raise ValueError(f"NUDGEFLOW_PAYLOAD_KEYS entry {n} is not 'id:base64key'")
        if any(existing == key_id for existing, _ in keyring):
            raise ValueError(f"NUDGEFLOW_PAYLOAD_KEYS names key id {key_id!r} twice")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"NUDGEFLOW_PAYLOAD_KEYS key {key_id!r} is not valid base64") from None
        if len(key) != PAYLOAD_KEY_BYTES:
            raise ValueError(
                f"NUDGEFLOW_PAYLOAD_KEYS key {key_id!r} is {len(key)} bytes, "
                f"not {PAYLOAD_KEY_BYTES} (AES-256)"
            )
        keyring.append((key_id, key))
    if not keyring:
        raise ValueError("NUDGEFLOW_PAYLOAD_KEYS names no key")
    return keyring


def _payload_keys_weakness(value: SecretStr | None) -> str | None:
    if value is None or not value.get_secret_value().strip():
        return "is not set"
    try:
        parse_payload_keys(value.get_secret_value())
    except ValueError as exc:
        return f"is malformed: {exc}"
    return None


def development_secret(data_dir: Path, name: str) -> str:
    """A secret generated once per install and kept in `<data dir>/secrets/<name>` (mode 0600).

    The worker that signs reply tokens and the API that checks them read the same file; whoever
    starts first writes it (O_EXCL), so two processes starting together agree.
    """
    folder = data_dir if data_dir.is_absolute() else ROOT / data_dir
    path = folder / "secrets" / name
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(200):
            existing = path.read_text().strip()
            if existing:
                return existing
            time.sleep(0.01)  # the writer is between creating and writing the file
        raise RuntimeError(f"{path} is empty: delete it to generate a new development secret") from None
    value = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as out:
        out.write(value)
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
