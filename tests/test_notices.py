"""Notices that would repeat per request are logged once per interval per key."""

from __future__ import annotations

from honed.service.notices import Throttle


def test_a_key_is_due_once_per_interval_and_counts_what_it_held_back() -> None:
    throttle = Throttle(60.0)
    assert throttle.due("a", now=0.0) == 0
    assert throttle.due("a", now=1.0) is None
    assert throttle.due("a", now=59.0) is None
    assert throttle.due("b", now=2.0) == 0  # keys apart
    assert throttle.due("a", now=60.0) == 2
    assert throttle.due("a", now=61.0) is None
    assert throttle.due("a", now=130.0) == 1
