import orjson

from rooms import events


def test_frames_are_arrays_and_drop_absent_optionals() -> None:
    frame = orjson.loads(events.encode_frame([events.Viewers(3), events.Error("muted", "you are muted")]))
    assert frame == [{"t": "viewers", "n": 3}, {"t": "error", "code": "muted", "message": "you are muted"}]


def test_mod_event_omits_missing_fields() -> None:
    assert orjson.loads(events.encode_event(events.Moderation("slow", seconds=5))) == {
        "t": "mod",
        "action": "slow",
        "seconds": 5,
    }


def test_error_with_retry() -> None:
    err = orjson.loads(events.encode_event(events.Error("rate_limited", "slow down", "c2", 1500)))
    assert err == {
        "t": "error",
        "code": "rate_limited",
        "message": "slow down",
        "id": "c2",
        "retry_after_ms": 1500,
    }
