"""KeyframePolicy: periodic keyframes, coalesced requests, a fresh start per source. Time is an argument."""

from __future__ import annotations

import itertools

import pytest

from live.video.keyframes import KeyframePolicy


def frames(policy: KeyframePolicy, start_ms: int, stop_ms: int, step_ms: int = 66) -> list[int]:
    """Run frames through the policy; return the times that were keyframes."""
    keyframes = []
    for now in range(start_ms, stop_ms, step_ms):
        if policy.should_force(now):
            policy.keyframe_sent(now)
            keyframes.append(now)
    return keyframes


def test_the_first_frame_is_a_keyframe_then_one_per_interval() -> None:
    policy = KeyframePolicy(interval_ms=1000)
    keys = frames(policy, 0, 5000)
    assert keys[0] == 0
    gaps = [b - a for a, b in itertools.pairwise(keys)]
    assert all(1000 <= g < 1000 + 66 for g in gaps), gaps


def test_requests_are_served_at_once_but_never_closer_than_the_min_gap() -> None:
    policy = KeyframePolicy(interval_ms=10_000, min_gap_ms=250)
    assert policy.should_force(0)
    policy.keyframe_sent(0)
    policy.request()
    assert not policy.should_force(100)  # too soon after the last one
    assert policy.requested
    assert policy.should_force(250)
    policy.keyframe_sent(250)
    assert not policy.requested
    assert not policy.should_force(600)


def test_forty_requests_at_once_cost_one_keyframe() -> None:
    policy = KeyframePolicy(interval_ms=10_000)
    policy.keyframe_sent(0)
    for _ in range(40):
        policy.request()
    assert frames(policy, 1000, 3000) == [1000]


def test_zero_interval_means_only_first_and_requested_keyframes() -> None:
    policy = KeyframePolicy(interval_ms=0)
    assert frames(policy, 0, 60_000) == [0]
    policy.request()
    assert frames(policy, 60_000, 61_000) == [60_000]


def test_a_new_source_starts_with_a_keyframe() -> None:
    policy = KeyframePolicy(interval_ms=1000)
    policy.keyframe_sent(0)
    assert not policy.should_force(100)
    policy.reset()
    assert policy.should_force(100)


def test_negative_intervals_are_refused() -> None:
    with pytest.raises(ValueError):
        KeyframePolicy(interval_ms=-1)
