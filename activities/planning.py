"""Planning as local activities: local-time math runs outside the sandbox and lands in history.

A run's first plan loads the tenant's settings itself (`PlanInput.settings` None) and returns them
with the plan; every plan names the done steps it looked at (`LifecyclePlan.reads_done`) and the
planning code it was made with (`LifecyclePlan.release`), so a lifecycle plans again after a send only
when the plan could change (workflows/lifecycle.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from temporalio import activity

from activities import release
from activities.models import PlanInput
from domain import appointment, chat, lesson, notification, payment, recall
from domain.events import DomainEvent
from domain.planning import DoneReads, LifecyclePlan, StepRecord
from domain.settings import TenantSettings
from store import Store
from store.recalls import OpenRecalls

PlanT = TypeVar("PlanT", bound=LifecyclePlan)


class Planning:
    """Each lifecycle's planner: its events folded into a view, the view planned."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.recalls = OpenRecalls(store.engine)

    async def _plan(
        self,
        input: PlanInput,
        fold: Callable[[list[DomainEvent]], Any],
        planner: Callable[[Any, TenantSettings, Mapping[str, StepRecord]], PlanT],
    ) -> PlanT:
        settings, loaded = input.settings, None
        if settings is None:  # the run's first plan: loaded here, returned with the plan
            settings = loaded = await self.store.get_settings(input.tenant)
        done = DoneReads(input.done)
        plan = planner(fold(input.events), settings, done)
        plan.reads_done, plan.settings, plan.release = done.read(), loaded, release.current()
        return plan

    @activity.defn(name="plan_appointment")
    async def plan_appointment(self, input: PlanInput) -> appointment.AppointmentPlan:
        plan = await self._plan(input, appointment.fold, appointment.plan_appointment)
        if plan.view.details is not None:
            # Whom the appointment's changes concern besides the patient: read here, with the plan,
            # so that a booking of a patient with no open recall takes no activity of its own.
            plan.open_recalls = await self.recalls.open_types(input.tenant, plan.view.details.patient.id)
        return plan

    @activity.defn(name="plan_lesson")
    async def plan_lesson(self, input: PlanInput) -> lesson.LessonPlan:
        return await self._plan(input, lesson.fold, lesson.plan_lesson)

    @activity.defn(name="plan_payment")
    async def plan_payment(self, input: PlanInput) -> payment.PaymentPlan:
        return await self._plan(input, payment.fold, payment.plan_payment)

    @activity.defn(name="plan_chat")
    async def plan_chat(self, input: PlanInput) -> chat.ChatPlan:
        return await self._plan(input, chat.fold, chat.plan_chat)

    @activity.defn(name="plan_notification")
    async def plan_notification(self, input: PlanInput) -> notification.NotificationPlan:
        return await self._plan(input, notification.fold, notification.plan_notification)

    @activity.defn(name="plan_recall")
    async def plan_recall(self, input: PlanInput) -> recall.RecallPlan:
        return await self._plan(input, recall.fold, recall.plan_recall)

    def activities(self) -> list[Callable[..., Any]]:
        """What a worker registers."""
        return [
            self.plan_appointment,
            self.plan_lesson,
            self.plan_payment,
            self.plan_chat,
            self.plan_notification,
            self.plan_recall,
        ]
