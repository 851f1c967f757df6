"""AnswerWorkflow: the engine's answer to a patient's reply, when the provider did not take it at
once (`answer:{the answer's idempotency key}`).

The API answers a reply inline (api/answers.py). When the provider certainly did not take it (a 503,
no connection), the row waits `planned` and the API starts this workflow, which waits what the
provider asked (Retry-After, else half a second), then tries again on a backoff for about eight
minutes (ANSWER_RETRY): later than that it is no longer an answer. Each attempt claims the row
first, so one cut off during its call is recorded `unknown`, never repeated; when no attempt was
taken the row ends `failed` with the provider's last reason.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.direct import AnswerActivities
    from activities.models import AnswerInput
    from domain.deliveries import DeliveryStatus

# Attempts 2, 4, 8 ... s apart, at most 2 min: the tenth and last about 8 minutes after the first.
ANSWER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=10,
)
STORE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# One provider call (bounded by the adapter's own timeouts) and two store writes.
ATTEMPT_TIMEOUT = timedelta(minutes=1)


def workflow_id(idempotency_key: str) -> str:
    return f"answer:{idempotency_key}"


@workflow.defn
class AnswerWorkflow:
    @workflow.run
    async def run(self, input: AnswerInput) -> DeliveryStatus:
        if input.wait_seconds > 0:
            await workflow.sleep(timedelta(seconds=input.wait_seconds))
        try:
            return await workflow.execute_activity_method(
                AnswerActivities.send_answer,
                input,
                start_to_close_timeout=ATTEMPT_TIMEOUT,
                retry_policy=ANSWER_RETRY,
            )
        except ActivityError:
            return await workflow.execute_activity_method(
                AnswerActivities.give_up_answer,
                input,
                start_to_close_timeout=ATTEMPT_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
