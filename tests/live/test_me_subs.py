"""The ``/ws/me`` subscription bookkeeping (live/me_subs.py), driven directly: no Redis, time given."""

from __future__ import annotations

import pytest

from live.me_subs import Subscriptions, UnexpectedConfirmation

LINGER_S = 3.0


def subscribed(subs: Subscriptions, user: str, now_s: float = 0.0) -> None:
    """Hold ``user`` until Redis confirmed the subscription (then give the hold back)."""
    subs.hold(user)
    assert subs.due(now_s) == ([user], [])
    assert subs.confirmed(user, True)
    subs.release(user, now_s)


def test_the_first_socket_of_a_user_subscribes_and_is_ready_at_the_confirmation() -> None:
    subs = Subscriptions(LINGER_S)
    assert subs.hold("alice") is False
    assert len(subs) == 1
    assert subs.due(0.0) == (["alice"], [])
    assert subs.due(0.0) == ([], [])  # sent once
    assert subs.state("alice") == (1, True, (True,))
    assert subs.confirmed("alice", True) is True
    # Further sockets of the user are ready at once and send nothing.
    assert subs.hold("alice") is True
    assert subs.due(0.0) == ([], [])
    assert subs.state("alice") == (2, True, ())


def test_sockets_joining_at_once_share_one_subscribe() -> None:
    subs = Subscriptions(LINGER_S)
    assert [subs.hold("alice") for _ in range(3)] == [False, False, False]
    assert subs.hold("bob") is False
    assert subs.due(0.0) == (["alice", "bob"], [])  # one SUBSCRIBE for everyone who joined meanwhile
    assert subs.confirmed("bob", True) is True
    assert subs.confirmed("alice", True) is True
    assert subs.state("alice") == (3, True, ())


def test_the_last_socket_leaving_unsubscribes_after_the_linger() -> None:
    subs = Subscriptions(LINGER_S)
    subscribed(subs, "alice", now_s=10.0)
    assert subs.due(12.9) == ([], [])
    assert subs.due(13.0) == ([], ["alice"])
    assert len(subs) == 0
    assert subs.state("alice") == (0, False, (False,))
    assert subs.confirmed("alice", False) is False
    assert subs.state("alice") == (0, False, ())  # forgotten


def test_open_and_close_in_a_loop_within_the_linger_costs_nothing() -> None:
    subs = Subscriptions(LINGER_S)
    subscribed(subs, "alice")
    for i in range(1000):
        now_s = i * 0.01
        assert subs.hold("alice") is True
        subs.release("alice", now_s)
        assert subs.due(now_s) == ([], [])
    # Past the linger after the last close: one UNSUBSCRIBE, and that is all the loop cost.
    assert subs.due(9.99 + LINGER_S) == ([], ["alice"])


def test_a_user_back_while_the_unsubscribe_is_in_flight_waits_for_a_new_subscribe() -> None:
    subs = Subscriptions(LINGER_S)
    subscribed(subs, "alice")
    assert subs.due(LINGER_S) == ([], ["alice"])
    # Back before Redis confirmed the UNSUBSCRIBE: the channel is about to go, so not ready.
    assert subs.hold("alice") is False
    assert subs.hold("alice") is False  # a second tab at the same time
    assert subs.due(LINGER_S) == (["alice"], [])
    assert subs.state("alice") == (2, True, (False, True))
    assert subs.confirmed("alice", False) is False  # the old UNSUBSCRIBE: still not ready
    assert subs.confirmed("alice", True) is True  # the new SUBSCRIBE: ready
    assert subs.hold("alice") is True


def test_a_socket_that_gave_up_before_the_confirmation_leaves_nothing_behind() -> None:
    subs = Subscriptions(linger_s=0.0)
    subs.hold("alice")
    subs.release("alice", 0.0)  # the socket went before its subscription was even sent
    assert subs.due(0.0) == (["alice"], ["alice"])  # sent in this order, confirmed in this order
    assert subs.confirmed("alice", True) is False  # an UNSUBSCRIBE follows it
    assert subs.hold("alice") is False  # meanwhile back: a new SUBSCRIBE, behind the UNSUBSCRIBE
    assert subs.confirmed("alice", False) is False
    assert subs.due(0.0) == (["alice"], [])
    assert subs.confirmed("alice", True) is True


def test_confirmations_nobody_asked_for_are_refused() -> None:
    subs = Subscriptions(LINGER_S)
    with pytest.raises(UnexpectedConfirmation):
        subs.confirmed("alice", True)
    subs.hold("alice")
    subs.due(0.0)
    with pytest.raises(UnexpectedConfirmation):
        subs.confirmed("alice", False)  # a SUBSCRIBE is in flight, not an UNSUBSCRIBE


def test_a_lost_connection_forgets_every_subscription_but_keeps_the_holds() -> None:
    subs = Subscriptions(LINGER_S)
    subscribed(subs, "alice")
    subs.hold("alice")  # an open socket
    subs.hold("bob")
    subs.due(0.0)  # bob's SUBSCRIBE in flight
    subs.hold("carol")  # carol's queued
    subs.lost()
    assert len(subs) == 0
    assert subs.due(100.0) == ([], [])  # nothing resent behind the sockets' back
    assert [subs.state(u) for u in ("alice", "bob", "carol")] == [(1, False, ())] * 3
    # A new socket on the next connection subscribes afresh; the old sockets' holds still count.
    assert subs.hold("alice") is False
    assert subs.due(100.0) == (["alice"], [])
    assert subs.confirmed("alice", True) is True
    subs.release("alice", 100.0)  # the interrupted socket goes
    assert subs.state("alice") == (1, True, ())
    for user in ("bob", "carol"):
        subs.release(user, 100.0)
        assert subs.state(user) == (0, False, ())
