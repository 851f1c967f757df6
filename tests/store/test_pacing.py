"""Provider pacing rows: every worker takes turns from the same bucket, on both stores."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from store import Pace, PacingStore, Store

BOT = Pace("telegram:bot:1", per_second=30)
NOW = 1_000_000.0


def chat(n: int) -> Pace:
    return Pace(f"telegram:chat:1:{n}", per_second=1)


async def test_two_workers_share_one_bot_pace(store: Store) -> None:
    # Given two workers (two Store engines) on the same database
    other = Store(str(store.engine.url.render_as_string(hide_password=False)))
    try:
        mine, theirs = PacingStore(store), PacingStore(other)

        # When both reserve 30 messages each for the same bot at the same moment, to 60 chats
        slots = await asyncio.gather(
            *(
                (mine if i % 2 else theirs).reserve([BOT, chat(i)], f"m-{i}", NOW, max_wait=10)
                for i in range(60)
            )
        )
    finally:
        await other.close()

    # Then no two share a moment, the bot never goes faster than 30/s, and the last waits 2 s, no more
    ordered = sorted(slots)
    gaps = [later - earlier for earlier, later in itertools.pairwise(ordered)]
    assert min(gaps) >= 1 / 30 - 1e-9
    assert ordered[0] == NOW
    assert abs(ordered[-1] - (NOW + 59 / 30)) < 1e-6


async def test_one_chat_gets_a_message_a_second(store: Store) -> None:
    pacing = PacingStore(store)

    first = await pacing.reserve([BOT, chat(7)], "a", NOW, max_wait=10)
    other_chat = await pacing.reserve([BOT, chat(8)], "b", NOW, max_wait=10)
    same_chat = await pacing.reserve([BOT, chat(7)], "c", NOW, max_wait=10)

    assert first == NOW
    assert other_chat == pytest.approx(NOW + 1 / 30)
    assert same_chat == NOW + 1  # the chat's pace, not the bot's


async def test_a_moment_too_far_is_kept_for_the_messages_next_attempt(store: Store) -> None:
    pacing = PacingStore(store)
    for i in range(90):  # three seconds of the bot's pace taken
        await pacing.reserve([BOT], f"before-{i}", NOW, max_wait=10)

    # An attempt that can wait only one second is given its moment, three seconds away, as a ticket
    slot = await pacing.reserve([BOT], "late", NOW, max_wait=1)
    assert slot == pytest.approx(NOW + 3)
    # Others queue behind it meanwhile
    assert await pacing.reserve([BOT], "after", NOW + 0.5, max_wait=10) == pytest.approx(NOW + 3 + 1 / 30)

    # The message's next attempt goes at its moment, not at the back of the queue
    assert await pacing.reserve([BOT], "late", NOW + 2.9, max_wait=1) == pytest.approx(NOW + 3)
    # and the ticket is used up: a later attempt of the same message queues again
    assert await pacing.reserve([BOT], "late", NOW + 3.1, max_wait=1) == pytest.approx(NOW + 3 + 2 / 30)


async def test_a_providers_retry_after_holds_every_worker_back(store: Store) -> None:
    pacing = PacingStore(store)
    await pacing.reserve([BOT], "a", NOW, max_wait=10)

    await pacing.hold_back(BOT.key, NOW + 5)
    await pacing.hold_back(BOT.key, NOW + 2)  # a shorter wait heard later does not shorten it

    assert await pacing.next_free(BOT.key) == NOW + 5
    assert await pacing.reserve([BOT], "b", NOW + 1, max_wait=10) == NOW + 5
