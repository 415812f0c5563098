"""The typing gate: what start/stop signals reach a group (app/ws/typing_gate.py)."""

from __future__ import annotations

from app.ws.typing_gate import BURST, INTERVAL, TypingGate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_start_goes_out_once_per_interval_while_typing_goes_on() -> None:
    clock = Clock()
    gate = TypingGate(clock)
    assert gate.allow(1, 7, active=True)
    clock.now += INTERVAL / 2
    assert not gate.allow(1, 7, active=True)
    clock.now += INTERVAL / 2
    assert gate.allow(1, 7, active=True)
    assert gate.allow(2, 7, active=True)  # per user
    assert gate.allow(1, 8, active=True)  # and group


def test_a_stop_goes_out_once_after_a_start_and_typing_again_shows_at_once() -> None:
    clock = Clock()
    gate = TypingGate(clock)
    assert gate.allow(1, 7, active=True)
    assert gate.allow(1, 7, active=False)
    assert not gate.allow(1, 7, active=False)  # already stopped
    clock.now += 0.1
    assert gate.allow(1, 7, active=True)  # typing again right after clearing the box


def test_a_stop_this_worker_saw_no_start_for_goes_out() -> None:
    assert TypingGate(Clock()).allow(1, 7, active=False)  # the start may have gone through another worker


def test_flipping_between_start_and_stop_is_capped_per_interval() -> None:
    clock = Clock()
    gate = TypingGate(clock)
    sent = sum(gate.allow(1, 7, active=i % 2 == 0) for i in range(50))
    assert sent == BURST
    clock.now += INTERVAL
    assert gate.allow(1, 7, active=True)
