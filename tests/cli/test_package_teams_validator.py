"""The app package's manifest, checked by Microsoft's own validator from npm
(`@microsoft/teams-manifest`'s `validateManifestAgainstSchema`, offline with the schema kept in
the repository). Needs Node and `cd checks && npm ci`; skipped without them, required in CI
(IMPACT_REQUIRE_E2E=1)."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from impact.main import main
from tests.e2e.playground import unavailable
from tests.paths import REPO

pytestmark = pytest.mark.e2e

CHECKS = REPO / "checks"
VALIDATOR = CHECKS / "validate-manifest.js"
SCHEMA = REPO / "deployment" / "teams" / "MicrosoftTeams.v1.30.schema.json"
APP_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def validate(manifest: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed; run `cd checks && npm ci` with Node.js 20")
    if not (CHECKS / "node_modules" / "@microsoft" / "teams-manifest").is_dir():
        unavailable("checks/node_modules is missing; run `cd checks && npm ci`")
    return subprocess.run(
        [node, str(VALIDATOR), str(manifest), str(SCHEMA)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=CHECKS,
    )


def test_microsofts_validator_accepts_the_package_manifest(tmp_path: Path) -> None:
    out = tmp_path / "impact-bot.zip"
    assert (
        main(["package", "--app-id", APP_ID, "--domain", "bot.example.nhs.uk", "--out", str(out)])
        == 0
    )
    with zipfile.ZipFile(out) as archive:
        (tmp_path / "manifest.json").write_bytes(archive.read("manifest.json"))
    result = validate(tmp_path / "manifest.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "valid"


def test_microsofts_validator_bites(tmp_path: Path) -> None:
    broken = {"manifestVersion": "1.30", "id": "not-a-guid"}
    (tmp_path / "manifest.json").write_text(json.dumps(broken))
    result = validate(tmp_path / "manifest.json")
    assert result.returncode == 1
    assert "developer" in result.stdout
    assert "/id" in result.stdout
