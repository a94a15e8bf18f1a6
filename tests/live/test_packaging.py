"""What `pip install .` promises: every import of the shipped packages is a dependency; the test
command runs each test once."""

from __future__ import annotations

import ast
import re
import sys
import tomllib

from kit.procs import REPO

SHIPPED = ("live", "rooms", "bots")
# Import name -> distribution name, where they differ.
DISTRIBUTION = {"jwt": "pyjwt"}


def _dependency_names(extra: str | None = None) -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return {re.split(r"[\[<>=;! ]", dep, maxsplit=1)[0].lower() for dep in deps}


def _third_party_imports() -> dict[str, str]:
    found: dict[str, str] = {}
    for package in SHIPPED:
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in SHIPPED:
                        found.setdefault(top, str(path.relative_to(REPO)))
    return found


def test_every_import_of_the_shipped_packages_is_a_dependency() -> None:
    deps = _dependency_names()
    missing = {
        name: where
        for name, where in _third_party_imports().items()
        if DISTRIBUTION.get(name, name) not in deps
    }
    assert not missing, f"imported but not in [project] dependencies: {missing}"


def test_the_test_command_runs_each_test_once() -> None:
    assert "--reruns" not in (REPO / "scripts" / "test").read_text()
    assert "pytest-rerunfailures" not in _dependency_names("dev")
