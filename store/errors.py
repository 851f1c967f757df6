"""What can go wrong when recording: a small tree under StoreError."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class TenantExists(StoreError):
    """create_tenant was given an id that is already taken."""

    def __init__(self, tenant_id: str) -> None:
        super().__init__(f"tenant {tenant_id!r} already exists")
        self.tenant_id = tenant_id


class UnknownTenant(StoreError, LookupError):
    """Settings were written for a tenant that was never created."""

    def __init__(self, tenant_id: str) -> None:
        super().__init__(f"no tenant {tenant_id!r}")
        self.tenant_id = tenant_id


class UnknownDelivery(StoreError, LookupError):
    """An outcome was reported for a delivery id that does not exist."""

    def __init__(self, delivery_id: int) -> None:
        super().__init__(f"no delivery {delivery_id}")
        self.delivery_id = delivery_id
