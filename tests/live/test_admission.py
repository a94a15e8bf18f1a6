"""The per-address cap: leases count open sockets and each is given back exactly once."""

from __future__ import annotations

from live.admission import PerIpCap


def test_the_cap_refuses_past_the_limit_and_admits_again_after_a_release() -> None:
    cap = PerIpCap(2)
    a, b = cap.acquire("10.0.0.1"), cap.acquire("10.0.0.1")
    assert a is not None and b is not None
    assert cap.acquire("10.0.0.1") is None
    assert cap.acquire("10.0.0.2") is not None  # another address has its own count
    a.release()
    assert cap.acquire("10.0.0.1") is not None


def test_a_lease_released_twice_gives_back_one_place() -> None:
    cap = PerIpCap(3)
    lease = cap.acquire("ip")
    cap.acquire("ip")
    assert lease is not None
    lease.release()
    lease.release()  # the HTTP side and the WebSocket side may both see the end
    assert cap.open_from("ip") == 1


def test_no_cap_counts_but_never_refuses() -> None:
    cap = PerIpCap(0)
    leases = [cap.acquire("ip") for _ in range(10_000)]
    assert all(lease is not None for lease in leases)
    for lease in leases:
        assert lease is not None
        lease.release()
    assert cap.open_from("ip") == 0
