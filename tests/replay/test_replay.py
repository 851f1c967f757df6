"""Saved histories of finished runs replay on today's code: a non-deterministic change fails CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker import WORKFLOWS, workflow_runner

# One folder per released shape of the workflows: runs recorded by older code still replay on today's.
VERSIONS = sorted(path for path in Path(__file__).with_name("histories").iterdir() if path.is_dir())
HISTORIES = sorted(path for version in VERSIONS for path in version.glob("*.json"))


@pytest.mark.parametrize("version", VERSIONS, ids=lambda path: path.name)
def test_there_is_a_history_for_every_workflow(version: Path) -> None:
    names = {path.stem for path in version.glob("*.json")}
    assert names >= {"appointment", "lesson", "invoice", "chat"}


@pytest.fixture(params=HISTORIES, ids=lambda path: f"{path.parent.name}/{path.stem}")
def history(request: pytest.FixtureRequest) -> WorkflowHistory:
    path: Path = request.param
    return WorkflowHistory.from_json(f"replay-{path.stem}", json.loads(path.read_text()))


async def test_saved_history_replays_without_nondeterminism(history: WorkflowHistory) -> None:
    replayer = Replayer(
        workflows=list(WORKFLOWS),
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(sandboxed=True),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
