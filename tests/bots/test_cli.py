"""bots.cli: the sub-command registers on live's parser; bad options stop before any traffic."""

from __future__ import annotations

import argparse
import subprocess
import sys

from bots.cli import build_parser, register, run
from bots.tokens import mint
from tests.bots.runner import REPO


def test_register_adds_bots_to_a_parser() -> None:
    parser = argparse.ArgumentParser(prog="live")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["bots", "chat", "--viewers", "5", "--rate", "2", "--url", "http://h:1,http://h:2"]
    )
    assert args.func is run
    assert args.scenario == "chat" and args.viewers == 5 and args.rate == 2.0
    assert args.url == ["http://h:1,http://h:2"]


def test_python_dash_m_bots_help() -> None:
    out = subprocess.run([sys.executable, "-m", "bots", "--help"], capture_output=True, cwd=REPO, timeout=30)
    assert out.returncode == 0
    for word in (b"stampede", b"crowd", b"--procs", b"--json", b"Exit code"):
        assert word in out.stdout


def test_bad_values_exit_2_before_any_traffic(capsys: object) -> None:
    for argv in (["chat", "--viewers", "0"], ["chat", "--url", "ftp://x"], ["join", "--duration", "-1"]):
        args = build_parser().parse_args([*argv, "-q", "--no-html"])
        assert run(args) == 2


def test_a_viewer_token_is_not_a_host_token() -> None:
    token = mint("s" * 40, sub="v", name="V", role="viewer")
    args = build_parser().parse_args(
        ["chat", "--token", token, "-q", "--no-html", "--url", "http://127.0.0.1:9"]
    )
    assert run(args) == 2


def test_token_and_room_must_agree() -> None:
    token = mint("s" * 40, sub="h", name="H", role="host", room="one")
    args = build_parser().parse_args(
        ["chat", "--token", token, "--room", "two", "-q", "--no-html", "--url", "http://127.0.0.1:9"]
    )
    assert run(args) == 2
