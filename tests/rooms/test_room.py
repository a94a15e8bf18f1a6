import pytest

from rooms.errors import BadRequest, Conflict
from rooms.room import RoomStatus, parse_title, transition


def test_lifecycle() -> None:
    assert transition(RoomStatus.SCHEDULED, "start") is RoomStatus.LIVE
    assert transition(RoomStatus.LIVE, "start") is RoomStatus.LIVE
    assert transition(RoomStatus.LIVE, "stop") is RoomStatus.ENDED
    assert transition(RoomStatus.SCHEDULED, "stop") is RoomStatus.ENDED
    assert transition(RoomStatus.ENDED, "stop") is RoomStatus.ENDED


def test_an_ended_show_stays_ended() -> None:
    with pytest.raises(Conflict):
        transition(RoomStatus.ENDED, "start")


def test_titles() -> None:
    assert parse_title({"title": "  Panda night "}) == "Panda night"
    for body in (None, {}, {"title": ""}, {"title": 3}, {"title": "x" * 101}, {"title": "a\nb"}):
        with pytest.raises(BadRequest):
            parse_title(body)
