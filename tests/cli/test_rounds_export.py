"""`impact-bot rounds export` and `impact-bot rounds status`, as real processes on SQLite and
PostgreSQL: aggregated results only (never a name, an id or a comment), no overwriting without
--force, one-line errors, the audit trail; undelivered messages and responses per team."""

from __future__ import annotations

import csv
import getpass
import json
import stat
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select

from assessment.rules import ChooseLevel, Submit
from framework.content import default_framework
from framework.identity import Identity, TeamMember
from rounds.services.export_files import NOT_ENOUGH
from store.assessments.aggregate import AssessmentStore
from store.audit import AuditEntry
from store.db import Database
from store.outbox import OutboxMessage
from store.people import Person
from store.rounds.lifecycle import RoundSpec, create_round
from store.rounds.opening import open_round
from store.rounds.results import compute_round_results
from store.rounds.tables import Round
from store.teams import Team
from tests.impact.test_main import base_env, run_cli

pytestmark = pytest.mark.service

FRAMEWORK = default_framework()
TENANT = "tenant-export-test"
NOW = datetime.now(UTC).replace(microsecond=0)
WARD7, WARD8 = "19:ward7@thread.tacv2", "19:ward8@thread.tacv2"
# Four people on Ward 7 answer (with comments), two more don't; Ward 8's four (two of them also
# on Ward 7) don't answer. The anonymity thresholds are lowered to 3 so that Ward 7's figures
# and even its comments may be shown in the bot: the export must still hold no comment.
NAMES = [
    "Zebedee Quartermaine",
    "Philippa Arkwright-Nonesuch",
    "Ottoline Vavasour",
    "Barnaby Fitzwilliam",
    "Henrietta Pocklington",
    "Cornelius Blenkinsop",
    "Araminta Throgmorton",
    "Percival Wigglesworth",
]
WARD7_PEOPLE, WARD8_PEOPLE, RESPONDENTS = range(6), range(4, 8), range(4)
ENV = {"IMPACT_MIN_GROUP_SIZE": "3", "IMPACT_MIN_COMMENT_GROUP_SIZE": "3"}


def user_id(n: int) -> str:
    return f"29:secret-user-{n}-7f3a"


def aad_id(n: int) -> str:
    return f"aad-secret-{n:04d}-c0ffee"


def comment(n: int) -> str:
    return f"Private remark #{n}: the rota on nights is unworkable (from {NAMES[n]})"


SECRETS = [
    *NAMES,
    *(user_id(n) for n in range(len(NAMES))),
    *(aad_id(n) for n in range(len(NAMES))),
    *(comment(n) for n in range(len(NAMES))),
    "Private remark",
    "unworkable",
]


@dataclass(frozen=True)
class World:
    round_id: int
    ward7: int  # teams.id
    ward8: int
    people: dict[int, int]  # n -> people.id


def add_team(session: Session, teams_id: str, name: str) -> Team:
    team = Team(
        tenant_id=TENANT,
        team_id=teams_id,
        name=name,
        channel_conversation_id=teams_id,
        service_url="https://smba.example/",
        reference="{}",
        installed=True,
        updated_at=NOW,
    )
    session.add(team)
    session.flush()
    return team


def identity(n: int) -> Identity:
    return Identity(TENANT, user_id(n), aad_id(n), NAMES[n])


def complete(db: Database, n: int, round_id: int, level: int) -> None:
    store = AssessmentStore(FRAMEWORK, lambda: NOW)
    who = identity(n)
    snapshot = db.run_sync(lambda s: store.start_or_resume(s, who, round_id))
    token = snapshot.revision
    for q in range(1, FRAMEWORK.question_count + 1):
        command = ChooseLevel(q, level, comment(n) if q <= 2 else None, token)
        db.run_sync(lambda s, c=command: store.act(s, who, snapshot.assessment_id, c))
        token += 1
    outcome = db.run_sync(lambda s: store.act(s, who, snapshot.assessment_id, Submit(token)))
    assert outcome.snapshot is not None
    assert outcome.snapshot.status.value == "submitted"


def build(db: Database, *, open_it: bool = True) -> World:
    def setup(session: Session) -> tuple[int, int, int]:
        ward7 = add_team(session, WARD7, "Ward 7")
        ward8 = add_team(session, WARD8, "Ward 8")
        spec = RoundSpec(
            "Winter 2026",
            (WARD7, WARD8),
            NOW - timedelta(minutes=1) if open_it else NOW + timedelta(days=1),
            NOW + timedelta(days=14),
            "3d,last-day",
        )
        round_ = create_round(session, spec, framework=FRAMEWORK, actor="test", now=NOW)
        assert round_.id is not None
        assert ward7.id is not None
        assert ward8.id is not None
        return round_.id, ward7.id, ward8.id

    round_id, ward7, ward8 = db.run_sync(setup)
    if open_it:

        def roster(people: range) -> list[TeamMember]:
            return [TeamMember(user_id(n), aad_id(n), NAMES[n], TENANT) for n in people]

        rosters = {ward7: roster(WARD7_PEOPLE), ward8: roster(WARD8_PEOPLE)}
        opened = db.run_sync(
            lambda s: open_round(s, round_id, rosters, invite=lambda *_: False, now=NOW)
        )
        assert opened is not None
        assert opened.participants == len(NAMES)
        for n, level in zip(RESPONDENTS, (2, 3, 3, 4), strict=True):
            complete(db, n, round_id, level)
    people = db.run_sync(
        lambda s: (
            {
                n: s.exec(select(Person.id).where(Person.teams_user_id == user_id(n))).one()
                for n in range(len(NAMES))
            }
            if open_it
            else {}
        )
    )
    return World(round_id, ward7, ward8, people)


def env_for(database_url: str) -> dict[str, str]:
    return base_env(DATABASE_URL=database_url, **ENV)


def exports(db: Database) -> list[AuditEntry]:
    return db.run_sync(
        lambda s: list(
            s.exec(
                select(AuditEntry)
                .where(AuditEntry.action == "round.export")
                .order_by(AuditEntry.id)
            ).all()
        )
    )


def set_status(db: Database, round_id: int, status: str) -> None:
    def change(session: Session) -> None:
        round_ = session.get(Round, round_id)
        assert round_ is not None
        round_.status = status

    db.run_sync(change)


def read_csv(path: Path) -> tuple[str, list[dict[str, str]]]:
    text = path.read_text(encoding="utf-8-sig")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return text, list(csv.DictReader(handle))


def xlsx_cells(path: Path) -> list[str]:
    workbook = load_workbook(path)
    return [
        str(cell.value)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None
    ]


def xlsx_raw_text(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return "\n".join(
            archive.read(name).decode("utf-8", "replace") for name in archive.namelist()
        )


def assert_nothing_personal(texts: list[str]) -> None:
    joined = "\n".join(texts)
    leaked = [secret for secret in SECRETS if secret.casefold() in joined.casefold()]
    assert leaked == []


def test_export_writes_aggregates_only_and_is_audited(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    world = build(db)
    # The bot itself would show Ward 7's figures and comments at these thresholds.
    results = db.run_sync(
        lambda s: compute_round_results(
            s, world.round_id, framework=FRAMEWORK, min_group=3, min_comment_group=3
        )
    )
    assert results.team(world.ward7).comments(), "the comments exist and are allowed in the bot"
    assert not results.team(world.ward7).suppressed
    env = env_for(database_url)

    # Open round: no results at all, only a one-line error; nothing written, nothing audited.
    refused = run_cli("rounds", "export", str(world.round_id), "--out", "winter.csv", env=env,
                      cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith(f"error: round {world.round_id} is open (it closes "), line
    assert "results exist only for closed rounds" in line
    assert not list(tmp_path.glob("*winter*")), "nothing written, not even a temporary file"
    assert exports(db) == []

    # Closed. A relative --out is taken from the working directory; the format from its
    # extension.
    set_status(db, world.round_id, "closed")
    csv_run = run_cli("rounds", "export", str(world.round_id), "--out", "winter.csv", env=env,
                      cwd=tmp_path)  # fmt: skip
    assert csv_run.returncode == 0, csv_run.stderr
    assert csv_run.stderr == ""
    out_csv = tmp_path / "winter.csv"
    assert csv_run.stdout.strip() == (
        f"round {world.round_id}: aggregated results written to {out_csv} (csv)"
    )
    text, rows = read_csv(out_csv)
    assert_nothing_personal([text])
    assert not list(tmp_path.glob(".winter.csv.*")), "no temporary file is left behind"
    by_group = {(r["team"], r["group"], r["item"], r["number"]): r for r in rows}
    ward7_q1 = by_group[("Ward 7", "Whole team", "question", "1")]
    assert (ward7_q1["responses"], ward7_q1["invited"], ward7_q1["median"]) == ("4", "6", "3.0")
    ward8_q1 = by_group[("Ward 8", "Whole team", "question", "1")]
    assert (ward8_q1["responses"], ward8_q1["invited"]) == ("0", "4")
    assert ward8_q1["median"] == NOT_ENOUGH

    # Excel, every cell and every part of the file.
    out_xlsx = tmp_path / "winter.xlsx"
    xlsx_run = run_cli(
        "rounds", "export", str(world.round_id), "--format", "xlsx", "--out", str(out_xlsx),
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert xlsx_run.returncode == 0, xlsx_run.stderr
    assert xlsx_run.stderr == ""
    cells = xlsx_cells(out_xlsx)
    assert "Ward 7" in cells
    assert "Ward 8" in cells
    assert NOT_ENOUGH in cells
    assert_nothing_personal(cells)
    assert_nothing_personal([xlsx_raw_text(out_xlsx)])
    assert stat.S_IMODE(out_xlsx.stat().st_mode) == 0o600, "an export is its owner's alone"
    assert stat.S_IMODE(out_csv.stat().st_mode) == 0o600

    entries = exports(db)
    assert [(e.actor, e.target, e.allowed) for e in entries] == [
        (f"cli:{getpass.getuser()}", f"round:{world.round_id}", True)
    ] * 2
    details = [json.loads(e.detail) for e in entries]
    assert [(d["format"], d["file"], d["round_status"], d["overwrote"]) for d in details] == [
        ("csv", str(out_csv), "closed", False),
        ("xlsx", str(out_xlsx), "closed", False),
    ]
    assert_nothing_personal([e.detail for e in entries])


def test_export_never_overwrites_without_force(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    world = build(db, open_it=False)
    set_status(db, world.round_id, "closed")  # closed before it opened: no responses
    env = env_for(database_url)
    out = tmp_path / "results.csv"
    out.write_text("someone's spreadsheet\n")

    refused = run_cli("rounds", "export", str(world.round_id), "--out", str(out), env=env,
                      cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"error: {out} already exists (use --force to overwrite it)"
    assert out.read_text() == "someone's spreadsheet\n"
    assert exports(db) == []

    forced = run_cli("rounds", "export", str(world.round_id), "--out", str(out), "--force",
                     env=env, cwd=tmp_path)  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    assert forced.stderr == ""  # every count is zero
    _, rows = read_csv(out)
    assert rows
    assert {r["responses"] for r in rows} == {"0"}
    assert [json.loads(e.detail)["overwrote"] for e in exports(db)] == [True]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["999", "--out", "x.csv"], "error: there is no round 999 (see `impact-bot rounds list`)"),
        (["{round}", "--out", "no-such-dir/x.csv"], "error: can't write {tmp}/no-such-dir/x.csv"),
        (["{round}", "--out", "x.csv", "--format", "pdf"], "error: unknown format 'pdf'"),
        (["{round}", "--out", "x.txt"], "error: say --format csv or --format xlsx"),
        (["{round}", "--out", "x.xlsx", "--format", "csv"], "error: --format csv but 'x.xlsx'"),
        (["{round}", "--out", "."], "error: {tmp} is a directory"),
    ],
)
def test_export_errors_are_one_line(
    db: Database, database_url: str, tmp_path: Path, args: list[str], message: str
) -> None:
    world = build(db, open_it=False)
    work = tmp_path / "work"
    work.mkdir()
    filled = [a.format(round=world.round_id) for a in args]
    result = run_cli("rounds", "export", *filled, env=env_for(database_url), cwd=work)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(message.format(tmp=work)), line
    assert result.stdout == ""
    assert list(work.iterdir()) == [], "nothing written, not even a temporary file"
    assert exports(db) == []


def test_status_lists_failed_messages_and_responses_per_team(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    world = build(db)
    blocked, unreachable = world.people[5], world.people[6]

    def messages(session: Session) -> None:
        base: dict[str, Any] = {
            "tenant_id": TENANT,
            "round_id": world.round_id,
            "payload": "{}",
            "not_before": NOW,
            "created_at": NOW,
        }
        rows = [
            OutboxMessage(dedupe_key="t:1", kind="invitation", person_id=world.people[0],
                          status="sent", attempts=1, last_status=201, **base),
            OutboxMessage(dedupe_key="t:2", kind="invitation", person_id=world.people[1],
                          status="pending", **base),
            OutboxMessage(dedupe_key="t:3", kind="invitation", person_id=blocked,
                          status="failed", attempts=1, last_status=403,
                          last_error="ConversationBlockedByUser: User blocked the conversation "
                          "with the bot.", **base),
            OutboxMessage(dedupe_key="t:4", kind="nudge", person_id=unreachable,
                          status="failed", attempts=8, last_status=None,
                          last_error="NetworkError: connection reset", **base),
            OutboxMessage(dedupe_key="t:5", kind="summary", team_id=world.ward8,
                          status="failed", attempts=1, last_status=404,
                          last_error="ConversationNotFound", **base),
        ]  # fmt: skip
        session.add_all(rows)

    db.run_sync(messages)
    env = env_for(database_url)

    as_json = run_cli("rounds", "status", str(world.round_id), "--json", env=env, cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    status = json.loads(as_json.stdout)
    assert (status["status"], status["participants"], status["submitted"]) == ("open", 8, 4)
    assert status["responses"] == [
        {"team_id": WARD7, "name": "Ward 7", "submitted": 4, "roster": 6},
        {"team_id": WARD8, "name": "Ward 8", "submitted": 0, "roster": 4},
    ]
    assert status["outbox"] == {"pending": 1, "sent": 1, "failed": 3, "cancelled": 0}
    assert status["failures"] == [
        {
            "kind": "invitation",
            "person_id": blocked,
            "person": NAMES[5],
            "team_id": None,
            "team": None,
            "http_status": 403,
            "code": "ConversationBlockedByUser",
            "message": "User blocked the conversation with the bot.",
            "attempts": 1,
        },
        {
            "kind": "nudge",
            "person_id": unreachable,
            "person": NAMES[6],
            "team_id": None,
            "team": None,
            "http_status": None,
            "code": "NetworkError",
            "message": "connection reset",
            "attempts": 8,
        },
        {
            "kind": "summary",
            "person_id": None,
            "person": None,
            "team_id": WARD8,
            "team": "Ward 8",
            "http_status": 404,
            "code": "ConversationNotFound",
            "message": "",
            "attempts": 1,
        },
    ]

    text = run_cli("rounds", "status", str(world.round_id), env=env, cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"{world.round_id}\topen\tWinter 2026\t")
    assert "4/8 submitted" in lines[0]
    assert lines[1:] == [
        "  Ward 7\t4/6 submitted",
        "  Ward 8\t0/4 submitted",
        "messages: failed 3, pending 1, sent 1",
        f"  failed invitation\t{NAMES[5]}\tHTTP 403\tConversationBlockedByUser"
        "\tUser blocked the conversation with the bot.",
        f"  failed nudge\t{NAMES[6]}\tno answer\tNetworkError\tconnection reset",
        "  failed summary\tWard 8\tHTTP 404\tConversationNotFound\t",
    ]

    unknown = run_cli("rounds", "status", "999", "--json", env=env, cwd=tmp_path)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: there is no round 999 (see `impact-bot rounds list`)"
