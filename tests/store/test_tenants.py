"""Tenants and API keys, tenant settings and contacts."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from sqlalchemy import text

from domain.contacts import Channel, Contact
from domain.settings import DailyWindow, TenantSettings
from store import Store, TenantExists, UnknownTenant


async def test_a_created_tenants_key_resolves_to_the_tenant(store: Store) -> None:
    key = await store.create_tenant("clinic", "Smile Clinic")

    assert await store.tenant_for_api_key(key) == "clinic"


async def test_a_wrong_key_resolves_to_nobody(store: Store) -> None:
    key = await store.create_tenant("clinic", "Smile Clinic")

    assert await store.tenant_for_api_key(key + "x") is None
    assert await store.tenant_for_api_key("") is None


async def test_the_api_key_is_stored_only_as_its_hash(store: Store) -> None:
    key = await store.create_tenant("clinic", "Smile Clinic")

    async with store.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT * FROM tenants"))).all()

    assert len(rows) == 1
    assert all(key not in str(value) for value in rows[0])


async def test_creating_a_tenant_twice_is_refused_and_keeps_the_first_key(store: Store) -> None:
    key = await store.create_tenant("clinic", "Smile Clinic")

    with pytest.raises(TenantExists):
        await store.create_tenant("clinic", "Impostor")
    assert await store.tenant_for_api_key(key) == "clinic"


async def test_ensure_tenant_is_idempotent_and_replaces_the_key(store: Store) -> None:
    await store.ensure_tenant("demo", "Demo", "demo-key")
    await store.ensure_tenant("demo", "Demo", "demo-key")
    assert await store.tenant_for_api_key("demo-key") == "demo"

    await store.ensure_tenant("demo", "Demo", "rotated-key")

    assert await store.tenant_for_api_key("demo-key") is None
    assert await store.tenant_for_api_key("rotated-key") == "demo"


async def test_settings_default_when_none_are_stored(store: Store) -> None:
    assert await store.get_settings("clinic") == TenantSettings()


async def test_settings_round_trip_offsets_quiet_hours_and_costs(store: Store) -> None:
    await store.create_tenant("clinic", "Smile Clinic")
    settings = TenantSettings(
        timezone="Europe/Moscow",
        default_locale="ru",
        reminder_offsets=[timedelta(minutes=90), timedelta(days=1, hours=2)],
        quiet_hours=DailyWindow(start=time(22, 30), end=time(8, 0)),
        staff_recipients=[Contact(id="admin", phone="+79161234567")],
        channel_costs={Channel.SMS: 0.07},
    )

    returned = await store.put_settings("clinic", settings)

    assert returned == settings
    assert await store.get_settings("clinic") == settings
    assert (await store.get_settings("clinic")).reminder_offsets == [
        timedelta(days=1, hours=2),
        timedelta(minutes=90),
    ]


async def test_putting_settings_again_replaces_them(store: Store) -> None:
    await store.create_tenant("clinic", "Smile Clinic")
    await store.put_settings("clinic", TenantSettings(timezone="Europe/Moscow"))

    await store.put_settings("clinic", TenantSettings(quiet_hours=None))

    assert await store.get_settings("clinic") == TenantSettings(quiet_hours=None)


async def test_settings_for_an_unknown_tenant_are_refused(store: Store) -> None:
    with pytest.raises(UnknownTenant):
        await store.put_settings("nobody", TenantSettings())


async def test_an_upserted_contact_is_read_back_and_an_upsert_replaces_it(store: Store) -> None:
    await store.upsert_contact("clinic", Contact(id="p1", name="Anna", phone="+79161234567", whatsapp=True))

    await store.upsert_contact("clinic", Contact(id="p1", name="Anna K.", email="anna@example.org"))

    assert await store.get_contact("clinic", "p1") == Contact(
        id="p1", name="Anna K.", email="anna@example.org"
    )


async def test_contacts_are_per_tenant(store: Store) -> None:
    await store.upsert_contact("clinic", Contact(id="p1", name="Anna"))

    assert await store.get_contact("school", "p1") is None
    assert await store.get_contact("clinic", "missing") is None


async def test_a_batch_of_contacts_is_upserted_and_the_last_copy_of_an_id_wins(store: Store) -> None:
    batch = [Contact(id=f"p{n}", name=f"Student {n}") for n in range(1200)]
    batch.append(Contact(id="p7", name="Renamed", preferred_channels=[Channel.TELEGRAM]))

    await store.upsert_contacts("school", batch)

    assert await store.get_contact("school", "p1199") == Contact(id="p1199", name="Student 1199")
    assert await store.get_contact("school", "p7") == Contact(
        id="p7", name="Renamed", preferred_channels=[Channel.TELEGRAM]
    )
