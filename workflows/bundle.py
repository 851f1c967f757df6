"""BundleWorkflow: one per bundle (`bundle:{tenant}:{hash of its key}`), a staff digest or a
guardian's reminder for several children (domain/bundles.py).

The send activity holds a message in the store and signals this workflow (with start). When the
window since the first message closes, one round sends whatever is held: one message as itself,
two or more as one. Messages that arrive meanwhile wait for the next round; the workflow ends
after a round during which nothing arrived. Its history holds no personal data: the messages stay
in the store.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.models import SendBundleInput, SendMessageResult
    from activities.send import NudgeActivities

from workflows.lifecycle import ATTEMPT_TIMEOUT, HEARTBEAT_TIMEOUT, SEND_RETRY

# A round that cannot send within this long gives up (each held message then stays `planned`).
ROUND_BUDGET = timedelta(hours=1)


class BundleInput(BaseModel):
    tenant: str
    key: str
    kind: str
    window_seconds: int


@workflow.defn
class BundleWorkflow:
    def __init__(self) -> None:
        self.arrivals = 0

    @workflow.signal
    def arrived(self) -> None:
        self.arrivals += 1

    @workflow.run
    async def run(self, input: BundleInput) -> int:
        """How many rounds it sent."""
        rounds = 0
        while True:
            await workflow.sleep(timedelta(seconds=input.window_seconds))
            seen = self.arrivals
            info = workflow.info()
            result: SendMessageResult = await workflow.execute_activity_method(
                NudgeActivities.send_bundle,
                SendBundleInput(
                    tenant=input.tenant,
                    key=input.key,
                    kind=input.kind,
                    workflow_id=info.workflow_id,
                    claim=f"{info.workflow_id}/{info.run_id}/{rounds}",
                ),
                start_to_close_timeout=ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=ROUND_BUDGET,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=SEND_RETRY,
                summary=f"round {rounds}",
            )
            workflow.logger.info("bundle round %d: %s", rounds, result.status)
            rounds += 1
            if self.arrivals == seen:
                return rounds
            if workflow.info().is_continue_as_new_suggested():
                # What arrived is held in the store: the next run's first round sends it.
                workflow.continue_as_new(input)
