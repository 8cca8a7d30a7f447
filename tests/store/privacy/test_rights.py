"""A person's rights over their data, on SQLite and PostgreSQL, over every feature's hooks:
the export holds everything stored about them; an erasure leaves nothing in any table or column
that names them (their ids, their name, their people.id), keeps everyone else's data, and is
audited without the erased data."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from impact.features import FEATURES
from store.assessments.tables import Answer, Assessment
from store.audit import AuditEntry
from store.db import Database
from store.huddles.tables import HuddleAttendance, HuddleItem
from store.outbox import OutboxMessage
from store.personal import PersonalData
from store.privacy.rights import erase_everywhere, export_document, find_people
from store.rounds.tables import RoundParticipant
from tests.store.privacy.scan import needles, scan, table_count
from tests.store.privacy.world import NIA, NIA_COMMENT, NIA_SECRETS, NOW, SAM, build

pytestmark = pytest.mark.service

HOOKS: tuple[PersonalData, ...] = tuple(d for f in FEATURES for d in f.personal_data)


def erase(db: Database, person: str) -> int:
    return db.run_sync(
        lambda s: erase_everywhere(s, person, HOOKS, actor="cli:dpo", requested_by="cli", now=NOW)
    )


def test_the_export_holds_everything_stored_about_the_person(db: Database) -> None:
    world = build(db)
    document = db.run_sync(lambda s: export_document(s, NIA.aad_object_id or "", HOOKS, NOW))
    assert document is not None
    assert json.loads(json.dumps(document)) == document  # plain JSON
    [record] = document["records"]
    assert set(record) == {d.name for d in HOOKS}
    [person] = record["people"]["person"]
    assert (person["name"], person["time_zone"]) == (NIA.name, "Europe/London")
    assert {c["scope"] for c in record["people"]["conversations"]} == {"personal"}
    statuses = sorted(a["status"] for a in record["assessments"]["assessments"])
    assert statuses == ["abandoned", "in_progress", "submitted", "superseded"]
    comments = [a["comment"] for a in record["assessments"]["answers"] if a["comment"]]
    assert NIA_COMMENT in comments
    assert len(comments) == 2 + 2 + 1
    assert len(record["assessments"]["live_cards"]) == 1
    rounds = record["rounds"]
    assert [(p["round_id"], p["role"]) for p in rounds["round_participation"]] == [
        (world.round_id, "leader")
    ]
    assert [t["team_id"] for t in rounds["round_teams"]] == [world.ward]
    [reminders] = rounds["reminder_settings"]
    assert (reminders["days"], reminders["away_until"]) == ("mon,wed", "2026-12-24")
    assert [m["kind"] for m in record["messages"]["messages"]] == ["invitation"]
    huddles = record["huddles"]
    assert sorted(i["text"] for i in huddles["huddle_items"]) == ["Fix the rota", "Quiet hour"]
    assert len(huddles["huddle_attendance"]) == 1
    assert [h["note"] for h in huddles["huddles_recorded"]] == ["All present"]
    assert len(huddles["huddle_lead_of"]) == 1
    alignment = record["alignment"]
    assert [a["title"] for a in alignment["alignment_recorded"]["aims"]] == ["Safe care"]
    assert [p["title"] for p in alignment["projects_owned"]] == ["Low beds"]
    assert len(alignment["alignment_links_made"]) == 1
    actions = {entry["action"] for entry in record["audit"]["audit"]}
    assert {"round.create", "round.close", "huddle.schedule", "team.parent"} <= actions
    about = record["privacy"]["audit_about_them"]
    assert [entry["action"] for entry in about] == ["huddle.lead.add", "rounds.refused"]
    recorded = record["privacy"]["recorded_by_them"]
    assert [r["id"] for r in recorded["rounds.created_by"]] == [world.round_id]
    assert len(recorded["export_links.created_by"]) == 1
    assert len(record["privacy"]["data_links"]) == 1
    # The Teams id finds the same record; someone unknown finds nothing.
    by_teams_id = db.run_sync(lambda s: export_document(s, NIA.teams_user_id, HOOKS, NOW))
    assert by_teams_id == document
    assert db.run_sync(lambda s: export_document(s, "29:nobody", HOOKS, NOW)) is None


def test_the_export_holds_no_one_elses_words(db: Database) -> None:
    build(db)
    document = db.run_sync(lambda s: export_document(s, NIA.teams_user_id, HOOKS, NOW))
    text = json.dumps(document, ensure_ascii=False)
    assert "Sam's private remark" not in text
    assert SAM.name not in text
    assert "Staff Member" not in text


def test_erasing_leaves_nothing_that_names_the_person_in_any_table(db: Database) -> None:
    world = build(db)
    before = scan(db, needles(*NIA_SECRETS), world.nia)
    # The world really holds her in many tables (so that an empty scan below means something).
    assert len({hit.split(".")[0] for hit in before}) >= 15, before
    assert erase(db, NIA.aad_object_id or "") == 1
    assert scan(db, needles(*NIA_SECRETS, NIA_COMMENT), world.nia) == []
    assert table_count(db) >= 25  # every table was searched (the whole schema)
    assert db.run_sync(lambda s: find_people(s, NIA.teams_user_id)) == []
    assert erase(db, NIA.aad_object_id or "") == 0


def test_erasing_one_person_keeps_everyone_elses_data(db: Database) -> None:
    world = build(db)
    erase(db, NIA.teams_user_id)

    def left(session: Session) -> dict[str, Any]:
        sams = session.exec(select(Assessment).where(col(Assessment.person_id) == world.sam)).all()
        return {
            "sam_answers": session.exec(
                select(sa.func.count()).select_from(Answer).where(
                    col(Answer.assessment_id).in_([a.id for a in sams]))
            ).one(),
            "participants": len(session.exec(select(RoundParticipant)).all()),
            "attendance": [a.person_id for a in session.exec(select(HuddleAttendance)).all()],
            "items": sorted((i.text, i.raised_by, i.owner_id)
                            for i in session.exec(select(HuddleItem)).all()),
            "submitted": session.exec(select(sa.func.count()).select_from(Assessment).where(
                col(Assessment.status) == "submitted")).one(),
        }  # fmt: skip

    assert db.run_sync(left) == {
        "sam_answers": 22,
        "participants": 6,
        "attendance": [world.sam],
        "items": [("Fix the rota", world.sam, None), ("Quiet hour", None, None),
                  ("Tea rota", world.sam, None)],
        "submitted": 6,
    }  # fmt: skip
    sams = db.run_sync(lambda s: export_document(s, SAM.teams_user_id, HOOKS, NOW))
    assert sams is not None
    assert sams["records"][0]["people"]["person"][0]["name"] == SAM.name


def test_messages_naming_them_are_cancelled_or_emptied(db: Database) -> None:
    build(db)
    erase(db, NIA.teams_user_id)
    rows = db.run_sync(
        lambda s: s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
    )
    assert [(m.dedupe_key, m.status, m.payload) for m in rows] == [
        ("huddle:prompt:sent", "sent", "{}"),
        ("huddle:prompt:pending", "cancelled", "{}"),
        ("huddle:prompt:roster", "sent", "{}"),
    ]


def test_the_erasure_is_audited_without_the_erased_data(db: Database) -> None:
    world = build(db)
    erase(db, NIA.aad_object_id or "")
    entries = db.run_sync(lambda s: s.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all())
    last = entries[-1]
    assert (last.actor, last.action, last.target) == ("cli:dpo", "person.erase", "")
    assert json.loads(last.detail)["requested_by"] == "cli"
    assert not scan(db, needles(*NIA_SECRETS), world.nia)
    # Entries she made are kept, with her name replaced; so are entries naming her people.id.
    assert [e.actor for e in entries if e.action == "round.close"] == ["erased"]
    [project] = [json.loads(e.detail) for e in entries if e.action == "alignment.project.add"]
    assert (project["title"], project["owner"]) == ("Low beds", "erased")
