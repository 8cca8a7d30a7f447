"""The import contracts of `make lint` (pyproject's [tool.importlinter]) hold, and they bite:
a copy of the code with a cycle, or with botbuilder imported into the domain, fails them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lint.contracts import _strongly_connected
from tests.paths import REPO

pytestmark = pytest.mark.service

PACKAGES = (
    "impact", "cli", "bot", "assessment", "rounds", "huddles", "alignment", "scheduler", "store",
    "framework", "lint",
)  # fmt: skip


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def copy_of_the_code(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_code_keeps_every_contract(copy_of_the_code: Path) -> None:
    result = lint_imports(copy_of_the_code)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_cycle_breaks_the_build(copy_of_the_code: Path) -> None:
    logs = copy_of_the_code / "bot" / "logs.py"
    logs.write_text(logs.read_text() + "\nfrom bot import web  # noqa\n")
    web = copy_of_the_code / "bot" / "web.py"
    web.write_text(web.read_text() + "\nfrom bot import logs  # noqa\n")
    result = lint_imports(copy_of_the_code)
    assert result.returncode != 0
    assert "No import cycles anywhere BROKEN" in result.stdout
    assert "bot.logs" in result.stdout
    assert "bot.web" in result.stdout


def test_botbuilder_in_the_domain_breaks_the_build(copy_of_the_code: Path) -> None:
    rules = copy_of_the_code / "assessment" / "rules.py"
    rules.write_text(rules.read_text() + "\nimport botbuilder.core  # noqa\n")
    result = lint_imports(copy_of_the_code)
    assert result.returncode != 0
    assert "Feature rules and the framework content are pure BROKEN" in result.stdout


def test_the_alignment_service_reaching_for_teams_breaks_the_build(
    copy_of_the_code: Path,
) -> None:
    service = copy_of_the_code / "alignment" / "services" / "service.py"
    service.write_text(service.read_text() + "\nimport bot.teams_reads  # noqa\n")
    result = lint_imports(copy_of_the_code)
    assert result.returncode != 0
    assert "Services reach Teams only through their ports BROKEN" in result.stdout
    assert "alignment.services.service" in result.stdout


def test_tarjan_finds_every_cycle_and_nothing_else() -> None:
    edges = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "e": ["f"], "f": ["e"], "g": []}
    found = sorted(sorted(c) for c in _strongly_connected(sorted(edges), edges) if len(c) > 1)
    assert found == [["a", "b", "c"], ["e", "f"]]
