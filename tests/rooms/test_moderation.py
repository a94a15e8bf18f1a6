import pytest

from rooms.errors import BadRequest
from rooms.moderation import ModAction, ModerationCommand, parse_moderation


def test_actions_parse() -> None:
    assert parse_moderation({"action": "mute", "user": "bob", "seconds": 60}) == ModerationCommand(
        ModAction.MUTE, "bob", 60
    )
    assert parse_moderation({"action": "ban", "user": "bob"}).action is ModAction.BAN
    assert parse_moderation({"action": "unban", "user": "bob"}).user == "bob"
    assert parse_moderation({"action": "unmute", "user": "bob"}).action is ModAction.UNMUTE
    assert parse_moderation({"action": "delete", "seq": 12}).seq == 12
    assert parse_moderation({"action": "slow", "seconds": 0}).seconds == 0


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"action": "kick", "user": "bob"},
        {"action": "mute", "user": "bob"},
        {"action": "mute", "user": "bob", "seconds": 0},
        {"action": "mute", "user": "b o b", "seconds": 5},
        {"action": "ban"},
        {"action": "delete"},
        {"action": "delete", "seq": "3"},
        {"action": "delete", "seq": 0},
        {"action": "slow", "seconds": -1},
        {"action": "slow", "seconds": 3601},
        {"action": "slow", "seconds": True},
    ],
)
def test_bad_bodies(body: object) -> None:
    with pytest.raises(BadRequest):
        parse_moderation(body)
