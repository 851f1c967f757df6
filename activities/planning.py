"""Planning as local activities: local-time math runs outside the sandbox and lands in history."""

from __future__ import annotations

from temporalio import activity

from activities.models import PlanInput
from domain import appointment, chat, lesson, notification, payment, recall


@activity.defn(name="plan_appointment")
async def plan_appointment_activity(input: PlanInput) -> appointment.AppointmentPlan:
    return appointment.plan_appointment(appointment.fold(input.events), input.settings, input.done)


@activity.defn(name="plan_lesson")
async def plan_lesson_activity(input: PlanInput) -> lesson.LessonPlan:
    return lesson.plan_lesson(lesson.fold(input.events), input.settings, input.done)


@activity.defn(name="plan_payment")
async def plan_payment_activity(input: PlanInput) -> payment.PaymentPlan:
    return payment.plan_payment(payment.fold(input.events), input.settings, input.done)


@activity.defn(name="plan_chat")
async def plan_chat_activity(input: PlanInput) -> chat.ChatPlan:
    return chat.plan_chat(chat.fold(input.events), input.settings, input.done)


@activity.defn(name="plan_notification")
async def plan_notification_activity(input: PlanInput) -> notification.NotificationPlan:
    return notification.plan_notification(notification.fold(input.events), input.settings, input.done)


@activity.defn(name="plan_recall")
async def plan_recall_activity(input: PlanInput) -> recall.RecallPlan:
    return recall.plan_recall(recall.fold(input.events), input.settings, input.done)


PLANNERS = [
    plan_appointment_activity,
    plan_lesson_activity,
    plan_payment_activity,
    plan_chat_activity,
    plan_notification_activity,
]
