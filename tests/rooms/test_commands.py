import pytest

from rooms.commands import BuyCommand, ChatCommand, CommandError, LikeCommand, PingCommand, parse_command


def test_each_command_parses() -> None:
    assert parse_command('{"t":"chat","id":"c1","text":"hi"}') == ChatCommand("c1", "hi")
    assert parse_command(b'{"t":"like","n":3}') == LikeCommand(3)
    assert parse_command('{"t":"buy","id":"b-7f3a","pin":"p1","qty":2}') == BuyCommand("b-7f3a", "p1", 2)
    assert parse_command('{"t":"ping"}') == PingCommand()


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1,2]",
        '"chat"',
        "{}",
        '{"t":5}',
        '{"t":"dance"}',
        '{"t":"chat","text":"no id"}',
        '{"t":"chat","id":"c1"}',
        '{"t":"chat","id":"c1","text":5}',
        '{"t":"chat","id":7,"text":"x"}',
        '{"t":"chat","id":"","text":"x"}',
        '{"t":"chat","id":"' + "x" * 65 + '","text":"x"}',
        '{"t":"like"}',
        '{"t":"like","n":0}',
        '{"t":"like","n":11}',
        '{"t":"like","n":1.5}',
        '{"t":"like","n":true}',
        '{"t":"buy","id":"b1","pin":"p1"}',
        '{"t":"buy","id":"b1","pin":"p1","qty":0}',
        '{"t":"buy","id":"b1","pin":"p1","qty":"1"}',
        '{"t":"buy","id":"b1","pin":"p 1","qty":1}',
        '{"t":"buy","id":"b1","qty":1}',
    ],
)
def test_bad_frames_are_bad_request(frame: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_command(frame)
    assert info.value.code == "bad_request"
    assert info.value.message


def test_error_keeps_the_request_id_when_it_is_valid() -> None:
    with pytest.raises(CommandError) as info:
        parse_command('{"t":"buy","id":"b9","pin":"p1","qty":-1}')
    assert info.value.request_id == "b9"
    with pytest.raises(CommandError) as info:
        parse_command('{"t":"buy","id":{"x":1},"pin":"p1","qty":1}')
    assert info.value.request_id is None
