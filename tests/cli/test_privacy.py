"""`impact-bot people export|erase` and `impact-bot audit export`, as real processes on SQLite
and PostgreSQL: a person's data as JSON (stdout, or a file of mode 0600 never overwritten
without --force), erasure only with --yes and then nothing left, the audit log as JSON or CSV
(mode 0600, formulas written as text)."""

from __future__ import annotations

import csv
import getpass
import json
import stat
from pathlib import Path

import pytest

from store.audit import audit
from store.db import Database
from tests.impact.test_main import base_env, run_cli
from tests.store.privacy.scan import needles, scan
from tests.store.privacy.world import NIA, NIA_COMMENT, NIA_SECRETS, NOW, build

pytestmark = pytest.mark.service

NIA_AAD = NIA.aad_object_id or ""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_people_export_gives_everything_as_json(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    build(db)
    env = base_env(DATABASE_URL=database_url)
    out = tmp_path / "nia.json"
    done = run_cli(
        "people", "export", "--person", NIA_AAD, "--out", str(out), env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert mode(out) == 0o600
    document = json.loads(out.read_text(encoding="utf-8"))
    [record] = document["records"]
    assert record["people"]["person"][0]["name"] == NIA.name
    assert NIA_COMMENT in out.read_text(encoding="utf-8")
    again = run_cli(
        "people", "export", "--person", NIA_AAD, "--out", str(out), env=env, cwd=tmp_path
    )
    assert again.returncode == 1
    assert again.stderr.strip() == f"error: {out} already exists (use --force to overwrite it)"
    stdout = run_cli("people", "export", "--person", NIA.teams_user_id, env=env, cwd=tmp_path)
    assert json.loads(stdout.stdout)["records"] == document["records"]
    unknown = run_cli("people", "export", "--person", "29:nobody", env=env, cwd=tmp_path)
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1, "error: no one is stored under 29:nobody"
    )  # fmt: skip


def test_people_erase_needs_yes_and_then_leaves_nothing(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    world = build(db)
    env = base_env(DATABASE_URL=database_url)
    refused = run_cli("people", "erase", "--person", NIA_AAD, env=env, cwd=tmp_path)
    assert refused.returncode == 1
    assert "add --yes" in refused.stderr
    assert scan(db, needles(NIA.name), world.nia) != []  # nothing was erased
    done = run_cli("people", "erase", "--person", NIA_AAD, "--yes", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"erased 1 person record(s) stored under {NIA_AAD}"
    assert scan(db, needles(*NIA_SECRETS, NIA_COMMENT), world.nia) == []
    gone = run_cli("people", "export", "--person", NIA_AAD, env=env, cwd=tmp_path)
    assert gone.returncode == 1
    log = run_cli("audit", "export", env=env, cwd=tmp_path)
    erasure = json.loads(log.stdout)[-1]
    assert (erasure["actor"], erasure["action"]) == (f"cli:{getpass.getuser()}", "person.erase")


def test_audit_export_as_json_and_csv(db: Database, database_url: str, tmp_path: Path) -> None:
    db.run_sync(lambda s: audit(s, actor="aad-admin", action="round.create",
                                target='=HYPERLINK("https://evil.example")', now=NOW))  # fmt: skip
    db.run_sync(lambda s: audit(s, actor="cli:ops", action="round.close", target="round:1",
                                allowed=False, now=NOW))  # fmt: skip
    env = base_env(DATABASE_URL=database_url)
    as_json, as_csv = tmp_path / "audit.json", tmp_path / "audit.csv"
    for fmt, out in (("json", as_json), ("csv", as_csv)):
        done = run_cli("audit", "export", "--format", fmt, "--out", str(out), env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert mode(out) == 0o600
    entries = json.loads(as_json.read_text(encoding="utf-8"))
    assert [(e["actor"], e["action"], e["allowed"]) for e in entries] == [
        ("aad-admin", "round.create", True), ("cli:ops", "round.close", False),
    ]  # fmt: skip
    with as_csv.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["target"] for row in rows] == ['\'=HYPERLINK("https://evil.example")', "round:1"]
    assert rows[0]["at"] == entries[0]["at"]
