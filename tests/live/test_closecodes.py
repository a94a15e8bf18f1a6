"""live.closecodes: one table of close codes with their reconnect policy, served to browsers."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from live import closecodes
from live.closecodes import CLOSE_CODES, Reconnect, policy
from tests.support import Http, ServerProc

LIVE_DIR = Path(closecodes.__file__).resolve().parent


def test_every_code_constant_is_in_the_table() -> None:
    constants = {
        name: value for name, value in vars(closecodes).items() if name.isupper() and isinstance(value, int)
    }
    assert {value for value in constants.values()} == set(CLOSE_CODES)
    for name, value in constants.items():
        assert CLOSE_CODES[value].name == name


def test_every_code_the_server_closes_with_is_in_the_table() -> None:
    used = set()
    for path in LIVE_DIR.rglob("*.py"):
        used |= set(re.findall(r"closecodes\.([A-Z_]+)\b", path.read_text()))
    assert used, "the server's closes go through live.closecodes"
    for name in used:
        assert getattr(closecodes, name) in CLOSE_CODES, name
    # uvicorn's own closes: shutdown and invalid UTF-8.
    assert {1012, 1007} <= set(CLOSE_CODES)


@pytest.mark.parametrize(
    ("code", "reconnect", "resume"),
    [
        (1000, Reconnect.BACKOFF, True),
        (1006, Reconnect.BACKOFF, True),
        (1008, Reconnect.BACKOFF, True),
        (1009, Reconnect.BACKOFF, True),
        (1011, Reconnect.BACKOFF, True),
        (1012, Reconnect.AT_ONCE, True),  # another process is up: go there and resume
        (4001, Reconnect.NEVER, False),
        (4003, Reconnect.NEVER, False),
        (4004, Reconnect.NEVER, False),  # the room does not exist: a reconnect cannot help
        (4008, Reconnect.BACKOFF, True),
        (4009, Reconnect.AT_ONCE, False),  # history lost: a fresh snapshot, without since
        (4999, Reconnect.BACKOFF, True),  # unknown: keep watching, carefully
    ],
)
def test_policy(code: int, reconnect: Reconnect, resume: bool) -> None:
    entry = policy(code)
    assert (entry.reconnect, entry.resume) == (reconnect, resume)


def test_final_and_since_dropping_sets() -> None:
    assert {4001, 4003, 4004} == closecodes.FINAL
    assert {4009} == closecodes.DROP_SINCE


def _table_from_script(script: str) -> object:
    match = re.fullmatch(r"(?s)(?://[^\n]*\n)*window\.LIVE_CLOSE_CODES = (\{.*\});\n", script)
    assert match, script
    return orjson.loads(match.group(1))


async def test_closecodes_js_serves_the_python_table(shared_server: ServerProc) -> None:
    r = await Http(shared_server).call("GET", "/closecodes.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "no-cache"
    table = _table_from_script(r.text)
    assert table == closecodes.browser_table()
    assert set(table) == {str(code) for code in CLOSE_CODES}  # type: ignore[arg-type]
    assert table["4004"] == {  # type: ignore[index]
        "name": "NO_SUCH_ROOM",
        "reconnect": False,
        "resume": False,
        "backoff": False,
    }
    assert table["4009"]["reconnect"] is True and table["4009"]["resume"] is False  # type: ignore[index]


def test_the_protocol_doc_lists_every_code_with_its_name() -> None:
    doc = (LIVE_DIR.parent / "docs" / "protocol.md").read_text()
    listed = {int(code): name for code, name in re.findall(r"^\| (\d{4}) \| `([A-Z_0-9]+)` \|", doc, re.M)}
    assert listed == {code: entry.name for code, entry in CLOSE_CODES.items()}
