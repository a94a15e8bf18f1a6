"""live/webhooks/signature.py: the header a receiver checks (pure; time is an argument)."""

from __future__ import annotations

import hashlib
import hmac

from live.webhooks.signature import sign, verify

SECRET = "whsec-test"
BODY = b'{"id":"evt_demo_1","type":"room.live","created_ms":1700000000000,"data":{}}'
T = 1_700_000_000


def test_sign_is_hmac_sha256_of_t_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, T) == f"t={T},v1={expected}"


def test_verify_accepts_its_own_signature_within_tolerance() -> None:
    header = sign(SECRET, BODY, T)
    assert verify(SECRET, header, BODY, now_s=T)
    assert verify(SECRET, header, BODY, now_s=T + 300)
    assert verify(SECRET, header, BODY, now_s=T - 300)


def test_verify_refuses_old_or_future_timestamps() -> None:
    header = sign(SECRET, BODY, T)
    assert not verify(SECRET, header, BODY, now_s=T + 301)
    assert not verify(SECRET, header, BODY, now_s=T - 301)
    assert verify(SECRET, header, BODY, now_s=T + 1000, tolerance_s=1000)


def test_verify_refuses_another_body_secret_or_timestamp() -> None:
    header = sign(SECRET, BODY, T)
    assert not verify(SECRET, header, BODY + b" ", now_s=T)
    assert not verify("other", header, BODY, now_s=T)
    moved = header.replace(f"t={T}", f"t={T + 1}")
    assert not verify(SECRET, moved, BODY, now_s=T)


def test_any_of_several_v1_signatures_is_enough() -> None:
    good = sign(SECRET, BODY, T).split(",v1=")[1]
    assert verify(SECRET, f"t={T},v1={'0' * 64},v1={good}", BODY, now_s=T)
    assert verify(SECRET, f"t={T}, v0=abc, v1={good}", BODY, now_s=T)  # other schemes are ignored


def test_malformed_headers_are_not_valid() -> None:
    good = sign(SECRET, BODY, T).split(",v1=")[1]
    for header in ("", "garbage", f"v1={good}", f"t={T}", f"t=abc,v1={good}", f"t=-{T},v1={good}"):
        assert not verify(SECRET, header, BODY, now_s=T), header
