"""Template versions in the store: drafts, publishing, history, diff, rollback, tenant over global."""

from __future__ import annotations

import pytest

from store import Store
from store.staff import Role
from store.templates import GLOBAL, UnknownTemplateVersion, diff

# SQL that differs by backend: each test runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

SMS = ("visit_reminder", "ru", "sms")


async def test_drafts_count_up_and_only_a_published_version_goes_live(store: Store) -> None:
    first = await store.save_template_draft("demo", *SMS, {"body": "Один"}, "ed@clinic.example")
    second = await store.save_template_draft("demo", *SMS, {"body": "Два"}, "ed@clinic.example")
    assert (first.version, second.version) == (1, 2)
    assert await store.published_templates("demo") == []

    live = await store.publish_template("demo", first.id, "pub@clinic.example")
    assert live.published_by == "pub@clinic.example" and live.published_at is not None
    [only] = await store.published_templates("demo", "visit_reminder")
    assert only.id == first.id and only.fields == {"body": "Один"}


async def test_history_is_newest_first_with_authors_and_a_rollback_adds_a_version(store: Store) -> None:
    v1 = await store.save_template_draft("demo", *SMS, {"body": "Один"}, "a@clinic.example")
    await store.publish_template("demo", v1.id, "a@clinic.example")
    v2 = await store.save_template_draft("demo", *SMS, {"body": "Два"}, "b@clinic.example")
    await store.publish_template("demo", v2.id, "a@clinic.example")

    back = await store.rollback_template("demo", v1.id, "c@clinic.example")

    history = await store.template_history("demo", *SMS)
    assert [(v.version, v.author, v.note) for v in history] == [
        (3, "c@clinic.example", "rollback to v1"),
        (2, "b@clinic.example", None),
        (1, "a@clinic.example", None),
    ]
    [live] = await store.published_templates("demo")
    assert live.id == back.id and live.fields == {"body": "Один"}


async def test_diff_shows_changed_lines_of_each_field(store: Store) -> None:
    v1 = await store.save_template_draft("demo", *SMS, {"body": "Здравствуйте!\nДо встречи."}, "a@x.io")
    v2 = await store.save_template_draft("demo", *SMS, {"body": "Добрый день!\nДо встречи."}, "a@x.io")
    lines = diff(v1, v2)
    assert "-Здравствуйте!" in lines and "+Добрый день!" in lines and " До встречи." in lines
    assert lines[:2] == ["--- v1", "+++ v2"]


async def test_a_tenant_sees_its_own_version_else_the_global_one(store: Store) -> None:
    await store.ensure_tenant("other", "Other clinic", "other-key")
    glob = await store.save_template_draft(GLOBAL, *SMS, {"body": "для всех"}, "root@x.io")
    await store.publish_template(GLOBAL, glob.id, "root@x.io")
    own = await store.save_template_draft("demo", *SMS, {"body": "своё"}, "a@x.io")
    await store.publish_template("demo", own.id, "a@x.io")

    assert [v.fields["body"] for v in await store.published_templates("demo")] == ["своё"]
    assert [v.fields["body"] for v in await store.published_templates("other")] == ["для всех"]


async def test_a_tenant_cannot_touch_another_tenants_version(store: Store) -> None:
    theirs = await store.save_template_draft("demo", *SMS, {"body": "x"}, "a@x.io")
    with pytest.raises(UnknownTemplateVersion):
        await store.publish_template("other", theirs.id, "mallory@x.io")
    with pytest.raises(UnknownTemplateVersion):
        await store.template_version("other", theirs.id)


async def test_staff_passwords_are_argon2_hashed_and_checked(store: Store) -> None:
    user = await store.create_staff("Ed@Clinic.example ", "demo", Role.EDITOR, "correct horse battery")
    assert user.email == "ed@clinic.example"
    assert await store.authenticate_staff("ed@clinic.example", "wrong password") is None
    assert await store.authenticate_staff("nobody@clinic.example", "correct horse battery") is None
    found = await store.authenticate_staff("ED@clinic.example", "correct horse battery")
    assert found is not None and found.role is Role.EDITOR
    assert [u.email for u in await store.list_staff("demo")] == ["ed@clinic.example"]


def test_roles_are_ordered_editor_publisher_admin() -> None:
    assert Role.ADMIN.can(Role.PUBLISHER) and Role.PUBLISHER.can(Role.EDITOR)
    assert not Role.EDITOR.can(Role.PUBLISHER) and not Role.PUBLISHER.can(Role.ADMIN)
