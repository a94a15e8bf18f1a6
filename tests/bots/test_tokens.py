"""bots.tokens: minted tokens verify with PyJWT and carry the contract's claims."""

from __future__ import annotations

import jwt

from bots.tokens import mint, unverified_claims

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def test_minted_token_verifies_with_pyjwt() -> None:
    token = mint(SECRET, sub="bot-x-1", name="Bot 1", role="viewer", room="r1", ttl_s=60, now_s=1_000)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {"sub": "bot-x-1", "name": "Bot 1", "role": "viewer", "room": "r1", "exp": 1_060}


def test_room_is_omitted_when_none() -> None:
    token = mint(SECRET, sub="u", name="U")
    assert "room" not in unverified_claims(token)
    assert unverified_claims(token)["role"] == "viewer"


def test_unverified_claims_of_garbage_is_empty() -> None:
    assert unverified_claims("not-a-token") == {}
    assert unverified_claims("a.!!!.c") == {}
