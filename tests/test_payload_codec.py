"""The payload codec: keys rotate, an unknown or altered payload fails by name, old histories pass."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from api.app import create_app
from config import InsecureConfiguration, Settings, parse_payload_keys
from worker import WORKFLOWS, workflow_runner
from workflows.client import data_converter
from workflows.codec import ENCODING, KEY_ID, EncryptionCodec, PayloadKeyError

SECRET = "s" * 40
HISTORIES = Path(__file__).parent / "replay" / "histories"
NAME, PHONE = "Zinovia Quackenbush", "+79995550123"


def keys(*ids: str) -> str:
    return ",".join(f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}" for key_id in ids)


def with_keys(text: str) -> Settings:
    return Settings(database_url="sqlite://", payload_keys=text)


async def test_a_payload_is_sealed_with_the_current_key_and_opens_again() -> None:
    converter = data_converter(with_keys(keys("2026-12", "2026-06")))
    [sealed] = await converter.encode([{"name": NAME, "phone": PHONE}])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"2026-12"
    assert NAME.encode() not in sealed.SerializeToString() and PHONE.encode() not in sealed.data
    assert await converter.decode([sealed], [dict]) == [{"name": NAME, "phone": PHONE}]


async def test_a_payload_sealed_with_the_old_key_opens_after_a_new_key_becomes_current() -> None:
    old = keys("2026-06")
    [sealed] = await data_converter(with_keys(old)).encode([NAME])
    rotated = data_converter(with_keys(keys("2026-12") + "," + old))  # the new key first, the old kept
    assert await rotated.decode([sealed], [str]) == [NAME]
    [resealed] = await rotated.encode([NAME])
    assert resealed.metadata[KEY_ID] == b"2026-12"


async def test_a_payload_from_an_unknown_key_id_fails_naming_it() -> None:
    [sealed] = await data_converter(with_keys(keys("retired"))).encode([NAME])
    with pytest.raises(PayloadKeyError, match=r"key id 'retired'.*not in NUDGEFLOW_PAYLOAD_KEYS"):
        await data_converter(with_keys(keys("2026-12"))).decode([sealed], [str])


async def test_an_altered_payload_or_a_swapped_key_id_does_not_open() -> None:
    keyring = parse_payload_keys(keys("a", "b"))
    codec = EncryptionCodec(keyring)
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')])
    flipped = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"b"}, data=sealed.data)
    for bad in (flipped, relabelled):
        with pytest.raises(PayloadKeyError, match="does not authenticate"):
            await codec.decode([bad])


async def test_a_payload_recorded_before_encryption_passes_through() -> None:
    [plain] = await pydantic_data_converter.encode([{"name": NAME}])
    converter = data_converter(with_keys(keys("k")))
    assert await converter.decode([plain], [dict]) == [{"name": NAME}]


async def test_a_failure_message_and_stack_trace_are_encrypted_too() -> None:
    converter = data_converter(with_keys(keys("k")))
    failure = Failure()
    try:
        raise RuntimeError(f"provider refused {PHONE} for {NAME}")
    except RuntimeError as exc:
        await converter.encode_failure(exc, failure)
    assert PHONE.encode() not in failure.SerializeToString()
    assert NAME.encode() not in failure.SerializeToString()
    assert PHONE in str(await converter.decode_failure(failure))


@pytest.fixture(params=sorted(HISTORIES.glob("*/appointment.json")), ids=lambda path: path.parent.name)
def recorded(request: pytest.FixtureRequest) -> WorkflowHistory:
    path: Path = request.param
    return WorkflowHistory.from_json("replay-appointment", json.loads(path.read_text()))


async def test_a_history_recorded_before_encryption_replays_with_the_encrypting_converter(
    recorded: WorkflowHistory,
) -> None:
    replayer = Replayer(
        workflows=list(WORKFLOWS),
        data_converter=data_converter(with_keys(keys("k"))),
        workflow_runner=workflow_runner(sandboxed=True),
    )
    result = await replayer.replay_workflow(recorded, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


def test_development_generates_one_payload_key_per_install(tmp_path: Path) -> None:
    first, again = Settings(data_dir=tmp_path), Settings(data_dir=tmp_path)
    assert first.payload_keyring() == again.payload_keyring()
    [(key_id, key)] = first.payload_keyring()
    assert key_id.startswith("dev-") and len(key) == 32
    assert (tmp_path / "secrets" / "payload-key").exists()
    assert Settings(data_dir=tmp_path / "other").payload_keyring() != first.payload_keyring()


@pytest.mark.parametrize(
    "payload_keys",
    [None, "", "no-colon", "k1:not base64!", "k1:" + base64.b64encode(b"short").decode(), keys("a", "a")],
    ids=["unset", "empty", "no-colon", "not-base64", "short-key", "same-id-twice"],
)
def test_production_refuses_missing_or_malformed_payload_keys(payload_keys: str | None) -> None:
    settings = Settings(
        database_url="sqlite://",
        env="production",
        secret_key=SECRET,
        reply_secret=SECRET,
        payload_keys=payload_keys,
    )
    with pytest.raises(InsecureConfiguration, match="NUDGEFLOW_PAYLOAD_KEYS") as refused:
        create_app(settings)
    for _, _, key in (entry.partition(":") for entry in (payload_keys or "").split(",")):
        assert len(key) < 8 or key not in str(refused.value)  # the message never echoes a key


def test_a_malformed_key_is_named_without_its_value() -> None:
    secret = base64.b64encode(b"sixteen byte key").decode()
    with pytest.raises(ValueError, match="'k1' is 16 bytes, not 32") as refused:
        parse_payload_keys(f"k1:{secret}")
    assert secret not in str(refused.value)
