from rooms.errors import ERRORS_BY_CODE, SoldOut, error_from_code

CONTRACT_CODES = {
    "bad_request",
    "too_long",
    "unauthorized",
    "forbidden",
    "muted",
    "banned",
    "rate_limited",
    "duplicate",
    "no_such_pin",
    "not_started",
    "ended",
    "sold_out",
    "limit_reached",
    "not_found",
    "conflict",
    "too_large",
}


def test_every_contract_code_has_an_error() -> None:
    assert set(ERRORS_BY_CODE) >= CONTRACT_CODES


def test_http_statuses() -> None:
    statuses = {code: cls.status for code, cls in ERRORS_BY_CODE.items()}
    assert statuses["bad_request"] == 400
    assert statuses["unauthorized"] == 401
    assert statuses["forbidden"] == 403
    assert statuses["not_found"] == 404
    assert statuses["conflict"] == 409
    assert statuses["too_large"] == 413
    assert statuses["rate_limited"] == 429


def test_rebuilt_from_code() -> None:
    err = error_from_code("sold_out", "sold out", 5)
    assert isinstance(err, SoldOut) and err.retry_after_ms == 5
    assert error_from_code("nonsense", "x").code == "bad_request"
