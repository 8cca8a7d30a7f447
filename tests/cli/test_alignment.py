"""`impact-bot aims|goals|targets|projects|alignment …` on the database the service uses (SQLite
and PostgreSQL): what they record, `--json` that parses, the matrix for a terminal, errors on one
line with exit status 1, and `--help` asking the seed's questions."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from framework.content import default_alignment_tool
from framework.identity import Identity
from impact.main import main
from store.audit import AuditEntry
from store.db import Database
from store.people import ensure_person
from store.teams import TeamInstall, record_install
from tests.impact.test_main import base_env, run_cli

pytestmark = pytest.mark.service

WARD = "19:ward7@thread.tacv2"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
TOOL = default_alignment_tool()

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(
    db: Database,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    """`impact-bot …` in this process: (exit status, stdout, stderr)."""
    for name in list(os.environ):
        if name.startswith(("IMPACT_", "Microsoft")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def ok(cli: Cli, *args: str) -> str:
    status, out, err = cli(*args)
    assert status == 0, err
    return out


def json_of(cli: Cli, *args: str) -> Any:
    return json.loads(ok(cli, *args, "--json"))


def seed(db: Database) -> None:
    install = TeamInstall("tenant-1", WARD, None, "Ward 7", WARD, "http://connector", "{}")
    db.run_sync(lambda s: record_install(s, install, NOW))
    owner = Identity("tenant-1", "29:olu", "aad-olu", "Olu Owner")
    db.run_sync(lambda s: ensure_person(s, owner, NOW))


def test_recording_linking_and_showing_the_matrix(cli: Cli, db: Database) -> None:
    seed(db)
    safe = json_of(cli, "aims", "add", "--title", "Safe care, every time")["id"]
    flow = int(ok(cli, "aims", "add", "--title", "Flow"))
    falls = json_of(cli, "goals", "add", "--aim", str(safe), "--title", "Fewer falls",
                    "--measure", "Falls per 1,000 bed days")["id"]  # fmt: skip
    sepsis = int(ok(cli, "goals", "add", "--aim", str(safe), "--title", "Sepsis care"))
    target = json_of(cli, "targets", "add", "--title", "Patient safety framework",
                     "--goal", str(falls))["id"]  # fmt: skip
    ok(cli, "targets", "link", str(target), "--goal", str(sepsis))
    beds = json_of(cli, "projects", "add", "--title", "Low beds", "--team", WARD, "--owner",
                   "aad-olu", "--status", "planned", "--goal", str(falls))["id"]  # fmt: skip
    rota = int(ok(cli, "projects", "add", "--title", "New rota app"))
    assert ok(cli, "alignment", "link", "--goal", str(sepsis), "--work", f"project:{beds}") == (
        f"project:{beds} now serves goal {sepsis} (was goal {falls})\n"
    )

    assert json_of(cli, "aims", "list") == [
        {"id": safe, "title": "Safe care, every time", "goals": 2},
        {"id": flow, "title": "Flow", "goals": 0},
    ]
    assert json_of(cli, "goals", "list", "--aim", str(safe))[0] == {
        "id": falls, "aim_id": safe, "title": "Fewer falls",
        "measure": "Falls per 1,000 bed days",
    }  # fmt: skip
    assert json_of(cli, "targets", "list") == [
        {"id": target, "title": "Patient safety framework", "goal_ids": [falls, sepsis]}
    ]
    projects = json_of(cli, "projects", "list")
    assert [(p["id"], p["team_name"], p["owner_name"], p["status"], p["goal_id"], p["work"])
            for p in projects] == [
        (beds, "Ward 7", "Olu Owner", "planned", sepsis, f"project:{beds}"),
        (rota, None, None, "active", None, f"project:{rota}"),
    ]  # fmt: skip

    matrix = json_of(cli, "alignment", "show")
    assert [a["title"] for a in matrix["aims"]] == ["Safe care, every time", "Flow"]
    goals = matrix["aims"][0]["goals"]
    assert [(g["id"], g["work_count"], g["has_no_work"]) for g in goals] == [
        (falls, 0, True), (sepsis, 1, False),
    ]  # fmt: skip
    assert goals[1]["targets"] == [{"id": target, "title": "Patient safety framework"}]
    assert goals[1]["work"][0] == {
        "id": beds, "title": "Low beds", "kind": "project", "team_name": "Ward 7",
        "goal_id": sepsis, "status": "planned",
    }  # fmt: skip
    assert [u["work"]["id"] for u in matrix["unaligned"]] == [rota]
    stage = TOOL.stage("improvement-work")
    assert matrix["challenge"]["guiding_question"] == stage.guiding_question

    shown = ok(cli, "alignment", "show")
    assert shown.startswith("Strategic alignment: 2 aims, 2 goals, 2 pieces of work")
    assert "  Goal 1: Fewer falls\n    Measured today: Falls per 1,000 bed days\n" in shown
    assert "    No improvement work is linked to this goal.\n" in shown
    assert f"    project:{beds}  Low beds (Ward 7, planned)\n" in shown
    assert stage.guiding_question in shown
    assert shown.rstrip().endswith(f"project:{rota}  New rota app (no team, active): linked to "
                                   "no goal")  # fmt: skip

    actors = db.run_sync(
        lambda s: {a.actor for a in s.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()}
    )
    assert actors == {f"cli:{getpass.getuser()}"}


def test_changes_and_removals(cli: Cli, db: Database) -> None:
    seed(db)
    aim = ok(cli, "aims", "add", "--title", "Safe").strip()
    other = ok(cli, "aims", "add", "--title", "Flow").strip()
    goal = ok(cli, "goals", "add", "--aim", aim, "--title", "Falls", "--measure", "x").strip()
    target = ok(cli, "targets", "add", "--title", "Framework", "--goal", goal).strip()
    project = ok(cli, "projects", "add", "--title", "Beds", "--goal", goal).strip()
    assert ok(cli, "aims", "rename", aim, "--title", "Safe care") == f"aim {aim} renamed\n"
    ok(cli, "goals", "update", goal, "--aim", other, "--no-measure", "--title", "Fewer falls")
    assert json_of(cli, "goals", "list", "--aim", other) == [
        {"id": int(goal), "aim_id": int(other), "title": "Fewer falls", "measure": None}
    ]
    ok(cli, "targets", "unlink", target, "--goal", goal)
    ok(cli, "targets", "rename", target, "--title", "NHS framework")
    ok(cli, "projects", "update", project, "--team", WARD, "--owner", "29:olu", "--status",
       "paused")  # fmt: skip
    ok(cli, "projects", "update", project, "--no-owner")
    [listed] = json_of(cli, "projects", "list")
    assert (listed["team_id"], listed["owner_name"], listed["status"]) == (WARD, None, "paused")
    assert ok(cli, "alignment", "unlink", "--work", f"project:{project}") == (
        f"project:{project} no longer serves goal {goal}: it is linked to no aim\n"
    )
    ok(cli, "alignment", "link", "--goal", goal, "--work", f"project:{project}")
    assert ok(cli, "goals", "remove", goal) == (
        f"goal {goal} removed; now linked to no aim: project:{project}\n"
    )
    ok(cli, "targets", "remove", target)
    ok(cli, "projects", "remove", project)
    ok(cli, "aims", "remove", aim)
    assert json_of(cli, "aims", "list") == [{"id": int(other), "title": "Flow", "goals": 0}]
    assert ok(cli, "projects", "list") == "No projects yet.\n"
    assert ok(cli, "targets", "list") == "No national targets yet.\n"


ERRORS = [
    (("goals", "add", "--aim", "9", "--title", "Falls"), "error: There is no aim 9."),
    (("goals", "add", "--aim", "one", "--title", "Falls"),
     "error: Choose an aim: the id 'one' is not a number."),
    (("aims", "add", "--title", "  \n "), "error: The aim's title is empty."),
    (("alignment", "link", "--goal", "1", "--work", "project"),
     "error: Name the work as KIND:ID, for example project:3 or idea:12 (not 'project')."),
    (("alignment", "link", "--goal", "1", "--work", "idea:3"),
     "error: There is no idea 3."),
    (("alignment", "unlink", "--work", "project:5"),
     "error: Project 5 is not linked to a goal."),
    (("projects", "add", "--title", "Beds", "--status", "done"),
     "error: A project is planned, active, paused, completed, stopped; not 'done'."),
    (("projects", "add", "--title", "Beds", "--owner", "aad-nobody"),
     "error: I know nobody with the id 'aad-nobody': give their Entra object id or Teams "
     "id; they must have talked to me or been on a round's roster."),
    (("aims", "remove", "1"), "error: Aim 1 still has 1 goal: remove it or move it to "
     "another aim first."),
    (("aims", "add", "--title", "safe"), "error: There is already an aim 'Safe' (aim 1)."),
    (("goals", "update", "1"), "error: Say what to change: a title, a measure or an aim."),
]  # fmt: skip


def test_errors_are_one_line_on_stderr_with_status_1(cli: Cli, db: Database) -> None:
    ok(cli, "aims", "add", "--title", "Safe")
    ok(cli, "goals", "add", "--aim", "1", "--title", "Falls")
    for args, message in ERRORS:
        assert cli(*args) == (1, "", message + "\n"), args
    assert json_of(cli, "aims", "list") == [{"id": 1, "title": "Safe", "goals": 1}]


def test_help_asks_the_seeds_questions(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    def help_of(*args: str) -> str:
        with pytest.raises(SystemExit):
            main([*args, "--help"])
        return " ".join(capsys.readouterr().out.split())

    assert TOOL.stage("strategic-aims").question in help_of("aims")
    assert TOOL.stage("strategic-aims").question in help_of("aims", "add")
    assert "What are you currently measuring?" in help_of("goals", "add")
    assert TOOL.stage("national-targets").guiding_question in help_of("targets", "add")
    improvement = help_of("alignment")
    assert " ".join(TOOL.stage("improvement-work").description.split()) in improvement
    assert TOOL.stage("improvement-work").guiding_question in improvement


def test_the_installed_command_prints_json_that_parses(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    env = base_env(DATABASE_URL=database_url)
    added = run_cli("aims", "add", "--title", "Safe care", "--json", env=env, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    shown = run_cli("alignment", "show", "--json", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["aims"][0]["title"] == "Safe care"
    failed = run_cli("goals", "remove", "4", env=env, cwd=tmp_path)
    assert (failed.returncode, failed.stderr) == (1, "error: There is no goal 4.\n")
