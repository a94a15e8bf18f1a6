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


# (name, the message's end): the chat text rule, applied to display names.
HIDDEN_OR_SPOOFING_NAMES = [
    ("\u200b", "token name has no visible characters"),
    ("\u200b\ufeff\u2060", "token name has no visible characters"),
    ("   ", "token name is empty"),
    ("\u3164", "token name has no visible characters"),  # Hangul filler
    ("Alice\u202e", "token name contains bidi control characters"),
    ("\u202egnp.exe", "token name contains bidi control characters"),
    ("A\u2066B\u2069", "token name contains bidi control characters"),
    ("A\nB", "token name contains control characters"),
]


@pytest.mark.parametrize(("name", "message"), HIDDEN_OR_SPOOFING_NAMES)
def test_a_hidden_or_spoofing_name_is_unauthorized(name: str, message: str) -> None:
    import jwt

    token = jwt.encode({"sub": "a", "name": name, "role": "viewer", "exp": 2_000_000_000}, SECRET, "HS256")
    with pytest.raises(Unauthorized) as err:
        verify_token(SECRET, token)
    assert err.value.message == message


@pytest.mark.parametrize(("name", "message"), HIDDEN_OR_SPOOFING_NAMES)
def test_make_token_refuses_to_sign_it(name: str, message: str) -> None:
    with pytest.raises(Unauthorized) as err:
        make_token(SECRET, sub="a", name=name, role="viewer")
    assert err.value.message == message


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Al\u200bice", "Alice"),  # zero-width space removed
        ("  Alice ", "Alice"),  # trimmed
        ("👨\u200d👩\u200d👧 fam", "👨\u200d👩\u200d👧 fam"),  # ZWJ kept
        ("x" * 32 + "\u200b", "x" * 32),  # the bound counts what is shown
    ],
)
def test_the_name_signed_and_read_is_the_one_shown(name: str, shown: str) -> None:
    import jwt

    token = make_token(SECRET, sub="a", name=name, role="viewer")
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["name"] == shown
    assert verify_token(SECRET, token).name == shown
