"""What nudgeflow records: tenants, settings, contacts, inbound events and the delivery log."""

from store.db import Store
from store.engine import async_url, sync_url
from store.errors import StoreError, TenantExists, UnknownDelivery, UnknownTenant
from store.migrate import migrate
from store.pacing import Pace, PacingStore
from store.records import DeadEvent, DeliveryAttempt, EventStatus, InboundEventKey, Lease, PendingEvent
from store.waitlist import Waitlist

__all__ = [
    "DeadEvent",
    "DeliveryAttempt",
    "EventStatus",
    "InboundEventKey",
    "Lease",
    "Pace",
    "PacingStore",
    "PendingEvent",
    "Store",
    "StoreError",
    "TenantExists",
    "UnknownDelivery",
    "UnknownTenant",
    "Waitlist",
    "async_url",
    "migrate",
    "sync_url",
]
