import pytest

from live.auth import Role, bearer_identity, make_token, verify_token
from rooms.errors import Forbidden, Unauthorized

SECRET = "unit-secret-0123456789-abcdefghijklmnopq"


def test_roundtrip() -> None:
    identity = verify_token(SECRET, make_token(SECRET, sub="alice", name="Alice", role="host", room="demo"))
    assert identity.role is Role.HOST and identity.acts_on("demo") and not identity.acts_on("other")
    identity.require_host("demo")
    with pytest.raises(Forbidden):
        identity.require_host("other")


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "a b", "name": "A", "role": "viewer"},
        {"sub": "a", "name": "", "role": "viewer"},
        {"sub": "a", "name": "x" * 33, "role": "viewer"},
        {"sub": "a", "name": "A", "role": "admin"},
        {"sub": "a", "name": "A", "role": "host"},
        {"sub": "a", "name": "A", "role": "mod", "room": "Bad Room"},
    ],
)
def test_bad_claims(claims: dict[str, str]) -> None:
    import jwt

    token = jwt.encode({**claims, "exp": 2_000_000_000}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized):
        verify_token(SECRET, token)


def test_expired_and_forged() -> None:
    expired = make_token(SECRET, sub="a", name="A", role="viewer", ttl_s=-1)
    with pytest.raises(Unauthorized):
        verify_token(SECRET, expired)
    forged = make_token(SECRET + "x", sub="a", name="A", role="viewer")
    with pytest.raises(Unauthorized):
        verify_token(SECRET, forged)
    with pytest.raises(Unauthorized):
        verify_token(SECRET, "a.b.c")


def test_bearer_header() -> None:
    assert bearer_identity(SECRET, None) is None
    token = make_token(SECRET, sub="a", name="A", role="viewer")
    assert bearer_identity(SECRET, f"Bearer {token}") is not None
    with pytest.raises(Unauthorized):
        bearer_identity(SECRET, f"Token {token}")
    with pytest.raises(Unauthorized):
        bearer_identity(SECRET, "Bearer ")
