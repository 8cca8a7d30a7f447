"""`.ci/audit` (`make audit`, run by CI): pip-audit over every lock file fails on a known
vulnerability with a fix, lists one without a fix, and says clearly (without failing) when the
vulnerability service cannot be reached. Driven with a stand-in pip-audit that writes the
report pip-audit would."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.paths import REPO

pytestmark = pytest.mark.unit

SCRIPT = REPO / ".ci" / "audit"


def fake_pip_audit(tmp_path: Path, *, report: dict[str, Any] | None, stderr: str = "") -> Path:
    """An executable that answers like pip-audit: a JSON report at --output, or an error."""
    exe = tmp_path / "pip-audit"
    body = json.dumps(report) if report is not None else ""
    exe.write_text(
        "#!/usr/bin/env python3\n"
        "import sys\n"
        f"report, stderr = {body!r}, {stderr!r}\n"
        "out = sys.argv[sys.argv.index('--output') + 1]\n"
        "if report:\n"
        "    open(out, 'w').write(report)\n"
        "sys.stderr.write(stderr)\n"
        "sys.exit(1 if (stderr or '\"vulns\": [{' in report) else 0)\n"
    )
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def audit(exe: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        env={**os.environ, "PIP_AUDIT": str(exe)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def report(*vulns: dict[str, Any]) -> dict[str, Any]:
    return {
        "dependencies": [
            {"name": "aiohttp", "version": "3.14.5", "vulns": list(vulns)},
            {"name": "attrs", "version": "26.1.0", "vulns": []},
        ]
    }


def test_a_known_vulnerability_with_a_fix_fails(tmp_path: Path) -> None:
    exe = fake_pip_audit(tmp_path, report=report({"id": "GHSA-x", "fix_versions": ["3.14.6"]}))
    result = audit(exe)
    assert result.returncode == 1
    assert "aiohttp 3.14.5: GHSA-x (fixed in: 3.14.6)" in result.stdout
    assert "requirements/runtime.lock" in result.stdout


def test_a_vulnerability_without_a_fix_is_listed_and_does_not_fail(tmp_path: Path) -> None:
    exe = fake_pip_audit(tmp_path, report=report({"id": "GHSA-y", "fix_versions": []}))
    result = audit(exe)
    assert result.returncode == 0
    assert "GHSA-y (fixed in: no fix yet)" in result.stdout


def test_nothing_known_passes(tmp_path: Path) -> None:
    result = audit(fake_pip_audit(tmp_path, report=report()))
    assert result.returncode == 0
    assert "no known vulnerability with a fix" in result.stdout


def test_an_unreachable_service_is_said_clearly_and_does_not_fail(tmp_path: Path) -> None:
    stderr = (
        "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='pypi.org', port=443): "
        "Max retries exceeded with url: /pypi/aiohttp/3.14.5/json\n"
    )
    result = audit(fake_pip_audit(tmp_path, report=None, stderr=stderr))
    assert result.returncode == 0
    assert "could not be reached" in result.stdout
    assert "NOT audited" in result.stdout


def test_any_other_failure_fails(tmp_path: Path) -> None:
    result = audit(fake_pip_audit(tmp_path, report=None, stderr="ERROR: bad requirement line\n"))
    assert result.returncode == 1
    assert "pip-audit failed" in result.stdout
