"""The recall invitation in the staff template list: its own group, a name, when it is sent."""

from __future__ import annotations

from datetime import timedelta

import httpx

from domain.settings import TenantSettings
from store import Store
from tests.staff.test_template_list import about, browser, group_of

__all__ = ["browser"]  # the signed-in staff browser fixture of the template list's tests


async def test_the_recall_invitation_has_its_group_and_says_its_ladder(
    browser: httpx.AsyncClient, store: Store
) -> None:
    ladder = [timedelta(0), timedelta(days=10), timedelta(days=40)]
    await store.put_settings("demo", TenantSettings(recall_ladder=ladder))
    html = (await browser.get("/staff/templates")).text
    assert group_of(html, "recall_invitation") == "recall"
    assert "Invitation to a regular visit" in about(html, "recall_invitation")
    assert "then 10 d and 40 d after it, while no visit is booked" in about(html, "recall_invitation")
    russian = (await browser.get("/staff/templates?lang=ru")).text
    assert "затем через 10 дн и 40 дн после него" in about(russian, "recall_invitation")
    assert "Плановые визиты" in russian
