"""The relay's pace (api/relay.Pace): how many senders signal workflows at once, tick by tick."""

from __future__ import annotations

from api.relay import Pace

QUICK_SIGNAL, SLOW_SIGNAL = 0.02, 0.8
QUICK_REQUEST, SLOW_REQUEST = 0.01, 0.6


def test_a_growing_backlog_with_quick_signals_and_nobody_waiting_gets_one_more_sender_a_tick() -> None:
    pace = Pace(least=2, most=8)
    seen = [pace.adjust(backlog=500, signal_s=QUICK_SIGNAL, request_s=None) for _ in range(8)]
    assert seen == [3, 4, 5, 6, 7, 8, 8, 8]


def test_requests_that_slow_down_halve_the_senders_but_never_below_the_configured_concurrency() -> None:
    pace = Pace(least=2, most=16, senders=12)
    seen = [pace.adjust(backlog=500, signal_s=QUICK_SIGNAL, request_s=SLOW_REQUEST) for _ in range(4)]
    assert seen == [6, 3, 2, 2]


def test_quick_requests_beside_the_burst_let_it_grow_again() -> None:
    pace = Pace(least=2, most=16, senders=3)
    assert pace.adjust(backlog=500, signal_s=QUICK_SIGNAL, request_s=QUICK_REQUEST) == 4


def test_signals_temporal_is_queueing_take_one_sender_away() -> None:
    pace = Pace(least=2, most=16, senders=10)
    seen = [pace.adjust(backlog=500, signal_s=SLOW_SIGNAL, request_s=QUICK_REQUEST) for _ in range(3)]
    assert seen == [9, 8, 7]


def test_no_more_senders_than_events_waiting() -> None:
    pace = Pace(least=2, most=16, senders=4)
    assert pace.adjust(backlog=4, signal_s=QUICK_SIGNAL, request_s=None) == 4
    assert pace.adjust(backlog=0, signal_s=None, request_s=None) == 4


def test_a_configured_concurrency_above_the_ceiling_is_kept() -> None:
    pace = Pace(least=20, most=16)
    assert pace.adjust(backlog=500, signal_s=QUICK_SIGNAL, request_s=None) == 20
