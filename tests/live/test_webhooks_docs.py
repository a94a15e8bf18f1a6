"""The signature checks in docs/webhooks.md, run against the server's signer (Python; JS with node)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from typing import Any

import pytest

from kit.procs import REPO
from live.webhooks.signature import sign

DOC = (REPO / "docs" / "webhooks.md").read_text()
SECRET = "whsec-docs"
BODY = '{"id":"evt_demo_1","type":"room.live","created_ms":1,"data":{"room":{"title":"熊猫 ¥"}}}'.encode()


def block(language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", DOC, re.S)
    assert match, f"no {language} block in docs/webhooks.md"
    return match.group(1)


def cases() -> list[tuple[str, bytes, bool]]:
    now = int(time.time())
    good = sign(SECRET, BODY, now)
    other_v1 = "v1=" + "0" * 64
    return [
        (good, BODY, True),
        (f"t={now},{other_v1},{good.split(',')[1]}", BODY, True),  # any of several v1
        (good, BODY + b" ", False),
        (sign("other", BODY, now), BODY, False),
        (sign(SECRET, BODY, now - 3600), BODY, False),  # too old
        ("", BODY, False),
        (f"t={now}", BODY, False),
    ]


def test_the_python_check_in_the_docs() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(block("python"), "docs/webhooks.md", "exec"), namespace)
    for header, body, expected in cases():
        assert namespace["verify"](SECRET, header, body) is expected, header


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_javascript_check_in_the_docs() -> None:
    runner = (
        block("js")
        + """
const [secret, header, bodyHex] = process.argv.slice(1);
console.log(verify(secret, header, Buffer.from(bodyHex, "hex")) ? "true" : "false");
"""
    )
    for header, body, expected in cases():
        out = subprocess.run(
            ["node", "-e", runner, SECRET, header, body.hex()], capture_output=True, text=True, timeout=30
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == str(expected).lower(), header
