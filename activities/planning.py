"""Planning as a local activity: local-time math runs outside the sandbox and lands in history."""

from __future__ import annotations

from temporalio import activity

from activities.models import PlanAppointmentInput
from domain.appointment import AppointmentPlan, fold, plan_appointment


@activity.defn(name="plan_appointment")
async def plan_appointment_activity(input: PlanAppointmentInput) -> AppointmentPlan:
    return plan_appointment(fold(input.events), input.settings, input.done)
