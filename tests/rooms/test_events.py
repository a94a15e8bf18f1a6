import orjson

from rooms import events


def test_chat_is_encoded_without_seq() -> None:
    chat = events.Chat(events.UserRef("bob", 'Bob "B"'), "hi <3", 1_000)
    assert orjson.loads(events.encode_event(chat)) == {
        "user": {"id": "bob", "name": 'Bob "B"'},
        "text": "hi <3",
        "ts_ms": 1_000,
        "t": "chat",
    }


def test_ephemeral_events() -> None:
    assert orjson.loads(events.encode_event(events.Viewers(3))) == {"t": "viewers", "n": 3}
    assert orjson.loads(events.encode_event(events.Progress("p1", 4, None))) == {
        "pin": "p1",
        "count": 4,
        "next_at": None,
        "t": "progress",
    }


def test_error_drops_absent_optionals() -> None:
    err = events.Error("muted", "you are muted")
    assert orjson.loads(events.encode_event(err)) == {
        "t": "error",
        "code": "muted",
        "message": "you are muted",
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
