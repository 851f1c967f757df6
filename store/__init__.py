"""What nudgeflow records: tenants, settings, contacts, inbound events and the delivery log."""

from store.db import Store
from store.engine import async_url, sync_url
from store.errors import StoreError, TenantExists, UnknownDelivery, UnknownTenant
from store.migrate import migrate
from store.records import DeliveryAttempt, EventStatus, InboundEventKey, PendingEvent

__all__ = [
    "DeliveryAttempt",
    "EventStatus",
    "InboundEventKey",
    "PendingEvent",
    "Store",
    "StoreError",
    "TenantExists",
    "UnknownDelivery",
    "UnknownTenant",
    "async_url",
    "migrate",
    "sync_url",
]
