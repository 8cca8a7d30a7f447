"""A database where one person, Nia, is in every place the bot keeps personal data: her profile
and where she can be reached, a Team install and a channel reference that recorded her as the
last speaker, a round she created and answered (submitted, superseded, abandoned drafts, with
comments), her role, reminder settings with an away-until date, messages queued for her and a
channel message @mentioning her, her live card, huddle attendance, items she raised and owns, a
huddle she recorded, lead namings she made and received, the team tree, alignment records, audit
entries by and about her, export links. Sam and five colleagues share much of it, and keep
theirs when Nia is erased."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from alignment.rules.records import WorkRef
from assessment.rules import ChooseLevel, Submit
from framework.content import default_framework
from framework.identity import Identity, TeamMember
from huddles.rules.digest import HuddleStatus
from huddles.rules.items import ItemKind
from store import outbox
from store.alignment import strategy, work
from store.assessments.aggregate import AssessmentStore
from store.assessments.tables import LiveCard
from store.audit import audit
from store.db import Database
from store.huddles.items import NewItem, add_item
from store.huddles.occurrences import Claim, add_attendance, claim, record_outcome
from store.huddles.schedules import ScheduleSpec, add_lead, create_schedule
from store.huddles.tree import set_parent
from store.people import ensure_person, save_reference
from store.privacy.tables import create_personal_link
from store.rounds.export_links import create_link
from store.rounds.lifecycle import RoundSpec, create_round
from store.rounds.opening import open_round
from store.rounds.participants import set_role
from store.rounds.tables import NudgePreference
from store.teams import TeamInstall, record_install

FRAMEWORK = default_framework()
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TENANT = "tenant-rights-test"
SERVICE = "https://smba.example/uk/"
NIA = Identity(TENANT, "29:1nia-7c1f-teams-user", "aad-nia-0f5e-4b7a-9d1c",
               "Nia Nightingale-Okafor", "Europe/London")  # fmt: skip
SAM = Identity(TENANT, "29:1sam-88aa-teams-user", "aad-sam-1234-5678-9abc", "Sam Samuels-Lead")
STAFF = [
    Identity(TENANT, f"29:1staff-{n}-teams-user", f"aad-staff-{n:04d}-ffff", f"Staff Member {n}")
    for n in range(5)
]
WARD, DIVISION = "19:ward7-rights@thread.tacv2", "19:division-rights@thread.tacv2"
NIA_COMMENT = "Nia's private remark: the handover is rushed"
NIA_SECRETS = (NIA.teams_user_id, NIA.aad_object_id or "", NIA.name)


def actor(identity: Identity) -> str:
    return identity.aad_object_id or f"teams:{identity.teams_user_id}"


@dataclass(frozen=True)
class World:
    nia: int  # people.id
    sam: int
    round_id: int
    ward: int  # teams.id


def reference(identity: Identity, conversation: str) -> str:
    """A Teams ConversationReference as the SDK serialises it: it names who spoke last."""
    return json.dumps({
        "user": {"id": identity.teams_user_id, "name": identity.name,
                 "aadObjectId": identity.aad_object_id},
        "bot": {"id": "28:bot", "name": "IMPACT"},
        "conversation": {"id": conversation, "tenantId": TENANT},
        "channelId": "msteams", "serviceUrl": SERVICE,
    }, sort_keys=True)  # fmt: skip


def answer_all(db: Database, who: Identity, round_id: int | None, level: int) -> int:
    """A submitted assessment (comments on the first two questions); its id."""
    store = AssessmentStore(FRAMEWORK, lambda: NOW)
    snapshot = db.run_sync(lambda s: store.start_or_resume(s, who, round_id))
    token = snapshot.revision
    for q in range(1, FRAMEWORK.question_count + 1):
        note = f"{who.name.split()[0]}'s private remark: the handover is rushed" if q <= 2 else None
        command = ChooseLevel(q, level, note, token)
        db.run_sync(lambda s, c=command: store.act(s, who, snapshot.assessment_id, c))
        token += 1
    db.run_sync(lambda s: store.act(s, who, snapshot.assessment_id, Submit(token)))
    return snapshot.assessment_id


def nias_drafts(db: Database, round_id: int, submitted: int) -> None:
    """Submitted again (the first becomes superseded), then an abandoned draft and a new one."""
    store = AssessmentStore(FRAMEWORK, lambda: NOW)
    again = db.run_sync(lambda s: store.reopen(s, NIA, submitted))
    token = again.revision  # type: ignore[union-attr]
    assessment = again.assessment_id  # type: ignore[union-attr]
    db.run_sync(lambda s: store.act(s, NIA, assessment, Submit(token)))
    draft = db.run_sync(lambda s: store.start_or_resume(s, NIA, None))
    db.run_sync(lambda s: store.act(s, NIA, draft.assessment_id,
                                    ChooseLevel(1, 2, NIA_COMMENT, draft.revision)))  # fmt: skip
    db.run_sync(lambda s: store.restart(s, NIA, draft.assessment_id, draft.revision + 1))


def build(db: Database) -> World:
    def setup(session: Session) -> World:
        ward = record_install(session, TeamInstall(TENANT, WARD, None, "Ward 7", WARD, SERVICE,
                                                   reference(NIA, WARD)), NOW)  # fmt: skip
        record_install(session, TeamInstall(TENANT, DIVISION, None, "Division", DIVISION,
                                            SERVICE, reference(SAM, DIVISION)), NOW)  # fmt: skip
        nia, sam = ensure_person(session, NIA, NOW), ensure_person(session, SAM, NOW)
        for person in STAFF:
            ensure_person(session, person, NOW)
        session.flush()
        assert nia.id is not None
        assert sam.id is not None
        assert ward.id is not None
        for who, pid in ((NIA, nia.id), (SAM, sam.id)):
            chat = f"a:1chat-{who.teams_user_id}"
            save_reference(session, person_id=pid, scope="personal", conversation_id=chat,
                           tenant_id=TENANT, service_url=SERVICE,
                           reference_json=reference(who, chat), now=NOW)  # fmt: skip
        save_reference(session, person_id=None, scope="channel", conversation_id=WARD,
                       tenant_id=TENANT, service_url=SERVICE, reference_json=reference(NIA, WARD),
                       now=NOW)  # fmt: skip
        spec = RoundSpec("Winter 2026", (WARD,), NOW - timedelta(minutes=1),
                         NOW + timedelta(days=14), "3d,last-day")  # fmt: skip
        round_ = create_round(session, spec, framework=FRAMEWORK, actor=actor(NIA), now=NOW)
        assert round_.id is not None
        members = [TeamMember(p.teams_user_id, p.aad_object_id, p.name, TENANT)
                   for p in (NIA, SAM, *STAFF)]  # fmt: skip
        open_round(session, round_.id, {ward.id: members}, invite=lambda *_: False, now=NOW)
        return World(nia.id, sam.id, round_.id, ward.id)

    world = db.run_sync(setup)
    submitted = answer_all(db, NIA, world.round_id, 2)
    for n, who in enumerate((SAM, *STAFF)):
        answer_all(db, who, world.round_id, 3 + n % 3)
    nias_drafts(db, world.round_id, submitted)
    db.run_sync(lambda s: everything_else(s, world))
    return world


def everything_else(session: Session, world: World) -> None:
    set_role(session, world.round_id, world.nia, "leader")
    session.add(NudgePreference(person_id=world.nia, days="mon,wed", window_start_minute=600,
                                window_end_minute=900, away_until=date(2026, 12, 24),
                                updated_at=NOW))  # fmt: skip
    draft = session.execute(sa.text(
        "SELECT id FROM assessments WHERE person_id = :p AND status = 'in_progress'"
    ), {"p": world.nia}).scalar_one()  # fmt: skip
    session.add(LiveCard(person_id=world.nia, activity_id="1:live-card", assessment_id=draft,
                         position=1, updated_at=NOW))  # fmt: skip
    _messages(session, world)
    _huddles(session, world)
    _alignment(session, world)
    audit(session, actor=actor(NIA), action="round.close", target=f"round:{world.round_id}",
          now=NOW)  # fmt: skip
    audit(session, actor=actor(SAM), action="rounds.refused", allowed=False,
          detail={"about": NIA.teams_user_id, "name": NIA.name}, now=NOW)  # fmt: skip
    create_link(session, world.round_id, "csv", created_by=actor(NIA), now=NOW)
    create_personal_link(session, world.nia, NOW)


def _messages(session: Session, world: World) -> None:
    to_nia = outbox.Target.person(user_id=NIA.teams_user_id, tenant_id=TENANT,
                                  service_url=SERVICE, bot_id="28:bot")  # fmt: skip
    outbox.enqueue(session, dedupe_key=f"round:{world.round_id}:invite:person:{world.nia}",
                   kind="invitation", tenant_id=TENANT, target=to_nia,
                   activity={"type": "message", "text": f"Hello {NIA.name}"},
                   now=NOW, person_id=world.nia, round_id=world.round_id)  # fmt: skip
    mention: dict[str, Any] = {
        "type": "message",
        "text": f"Huddle led by <at>{NIA.name}</at>",
        "entities": [{"type": "mention", "text": f"<at>{NIA.name}</at>",
                      "mentioned": {"id": NIA.teams_user_id, "name": NIA.name}}],
    }  # fmt: skip
    for key in ("huddle:prompt:sent", "huddle:prompt:pending"):
        outbox.enqueue(session, dedupe_key=key, kind="huddle", tenant_id=TENANT,
                       target=outbox.Target.conversation(WARD, SERVICE), activity=mention,
                       now=NOW, team_id=world.ward)  # fmt: skip
    roster = {"type": "message", "attachments": [{"content": {"body": [{
        "type": "Input.ChoiceSet", "id": "action_owner",
        "choices": [{"title": who.name, "value": who.teams_user_id}
                    for who in (NIA, SAM)],  # as the prompt's owner choices (huddles/board)
    }]}}]}  # fmt: skip
    outbox.enqueue(session, dedupe_key="huddle:prompt:roster", kind="huddle", tenant_id=TENANT,
                   target=outbox.Target.conversation(WARD, SERVICE), activity=roster,
                   now=NOW, team_id=world.ward)  # fmt: skip
    session.execute(sa.text("UPDATE outbox SET status = 'sent' WHERE dedupe_key IN (:a, :b)"),
                    {"a": "huddle:prompt:sent", "b": "huddle:prompt:roster"})  # fmt: skip


def _huddles(session: Session, world: World) -> None:
    spec = ScheduleSpec(WARD, "Morning", "safety", frozenset({0}), time(8, 30), "Europe/London")
    schedule = create_schedule(session, spec, actor=actor(NIA), now=NOW)
    assert schedule.id is not None
    huddle = claim(session, Claim(schedule.id, world.ward, date(2026, 11, 2), 0, NOW, WARD,
                                  "prompt-1"), NOW)  # fmt: skip
    assert huddle is not None
    add_attendance(session, huddle, world.nia, NOW)
    add_attendance(session, huddle, world.sam, NOW)
    add_item(session, NewItem(world.ward, huddle, ItemKind.IDEA, "Quiet hour", world.nia), NOW)
    add_item(session, NewItem(world.ward, huddle, ItemKind.ACTION, "Fix the rota", world.sam,
                              owner_id=world.nia, due=date(2026, 11, 9)), NOW)  # fmt: skip
    add_item(session, NewItem(world.ward, huddle, ItemKind.IDEA, "Tea rota", world.sam), NOW)
    record_outcome(session, huddle, HuddleStatus.HELD, "All present", world.nia, NOW)
    add_lead(session, WARD, NIA.aad_object_id or "", actor=actor(SAM), now=NOW)
    add_lead(session, WARD, SAM.teams_user_id, actor=actor(NIA), now=NOW)
    set_parent(session, WARD, DIVISION, actor=actor(NIA), now=NOW)


def _alignment(session: Session, world: World) -> None:
    aim = strategy.add_aim(session, "Safe care", actor=actor(NIA), now=NOW)
    assert aim.id is not None
    goal = strategy.add_goal(session, aim.id, "Fewer falls", None, actor=actor(SAM), now=NOW)
    project = work.add_project(session, work.ProjectSpec(title="Low beds", owner=world.nia),
                               actor=actor(SAM), now=NOW)  # fmt: skip
    assert goal.id is not None
    assert project.id is not None
    work.link_work(session, goal.id, WorkRef("project", project.id), actor=actor(NIA), now=NOW)
