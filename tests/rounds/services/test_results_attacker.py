"""Issue 10 §1 as an attacker tries it, through the real service on SQLite and PostgreSQL: a team
owner replays Full results with the round id from their invitation, the improvement team exports,
one person changes their answers, their role and submits again, before and after the close.

Before the close, the attacker's every view is the same whatever that person answered (tried at
each level, with a comment): only the response count moves, when someone first submits. After
the close, the results are frozen: late answers, submits and role changes are refused (with a
clear note and a live card), roster rows do not change, and every view and export, a minute
apart with the late attempts between, is identical byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from assessment.rules import Change, ChooseLevel, Refusal, Refused, Submit
from bot.config import Settings
from framework.content import default_framework
from framework.identity import Identity
from impact.features.rounds import round_steps
from impact.service import CONTEXT_KEY, create_app
from store.assessments.aggregate import AssessmentStore
from store.assessments.tables import Answer
from store.db import Database
from store.outbox import OutboxMessage
from store.rounds.charts import ChartImage
from store.rounds.frozen import FrozenResult
from store.rounds.lifecycle import RoundSpec, create_round
from store.rounds.tables import RoundParticipant, RoundParticipantTeam
from store.teams import Team
from tests.conftest import Clock, serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser, card_text
from tests.rounds.services.test_opening import member

pytestmark = pytest.mark.service

WARD = "19:ward7@thread.tacv2"
ADMIN_AAD = "11111111-2222-3333-4444-555555555555"
PUBLIC = "https://impact.example.nhs.uk"
FRAMEWORK = default_framework()
STAFF = 7
OWNER = 6  # staff 6 owns the ward in Teams: they may read its results
TARGET = 0  # the person the attacker wants to learn about
LEVEL_WORDS = tuple(level.name for level in FRAMEWORK.levels)


def identity(tenant: str, n: int) -> Identity:
    return Identity(tenant, f"29:staff-{n}", None, f"Staff {n}")


def store_at(now: datetime) -> AssessmentStore:
    return AssessmentStore(FRAMEWORK, lambda: now)


def answer_all(db: Database, who: Identity, round_id: int, level: int, now: datetime) -> int:
    """Start from the invitation and answer every question at `level`; not submitted."""
    store = store_at(now)
    snapshot = db.run_sync(lambda s: store.start_or_resume(s, who, round_id))
    token = snapshot.revision
    for q in range(1, FRAMEWORK.question_count + 1):
        command = ChooseLevel(q, level, f"note from staff at level {level}", token)
        db.run_sync(lambda s, c=command: store.act(s, who, snapshot.assessment_id, c))
        token += 1
    return snapshot.assessment_id


def submit(db: Database, who: Identity, assessment_id: int, now: datetime) -> Any:
    store = store_at(now)
    owned = db.run_sync(lambda s: store.owned(s, who, assessment_id))
    assert owned is not None
    return db.run_sync(lambda s: store.act(s, who, assessment_id, Submit(owned.revision, True)))


def change_and_resubmit(db: Database, who: Identity, level: int, now: datetime) -> Any:
    """Change the first three answers (and their comments) of a submitted round assessment,
    then submit again: the attacker's "re-submitting"."""
    store = store_at(now)
    current = db.run_sync(lambda s: store.current(s, who))
    assert current is not None
    draft = db.run_sync(lambda s: store.reopen(s, who, current.assessment_id))
    if isinstance(draft, Refused):
        return draft
    token = draft.revision
    for q in (1, 2, 3):
        db.run_sync(lambda s, q=q, t=token: store.act(s, who, draft.assessment_id, Change(q, t)))
        command = ChooseLevel(q, level, f"my level is {level}", token + 1)
        db.run_sync(lambda s, c=command: store.act(s, who, draft.assessment_id, c))
        token += 2
    return db.run_sync(lambda s: store.act(s, who, draft.assessment_id, Submit(token, True)))


def reply_card(user: TeamsUser, result: Any) -> dict[str, Any]:
    body = result.body
    if isinstance(body, dict) and isinstance(body.get("value"), dict):
        value: dict[str, Any] = body["value"]
        if value.get("type") == "AdaptiveCard" and card_text(value).strip() != "✓ Done":
            return value  # the used card replaced (a refusal); else the card sent below it
    return user.last_card()[1]


async def download(user: TeamsUser, url: str) -> bytes:
    assert user.session is not None
    async with user.session.get(url.replace(PUBLIC, user.bot_url)) as response:
        return f"HTTP {response.status} {response.headers.get('Cache-Control')} ".encode() + (
            await response.read()
        )


async def views(
    owner: TeamsUser, lead: TeamsUser, db: Database, round_id: int, team_id: int
) -> list[str]:
    """Everything the attacker (the owner) and the improvement team can see of the round."""
    seen: list[str] = []
    data = {"verb": "results", "round_id": round_id, "team_id": team_id}
    for user in (owner, lead):
        result = await user.execute("summary", "results", data)
        seen.append(json.dumps(reply_card(user, result), sort_keys=True))
    for fmt in ("csv", "xlsx"):
        export = {"verb": "export", "round_id": round_id, "fmt": fmt}
        for user in (owner, lead):
            card = reply_card(user, await user.execute("full", "export", export))
            links = [a["url"] for a in card.get("actions", []) if a["type"] == "Action.OpenUrl"]
            if links:  # the file itself (a link's token is new each time, the file is not)
                body = await download(user, links[0])
                seen.append(f"{fmt} {hashlib.sha256(body).hexdigest()} {len(body)}")
            else:
                seen.append(card_text(card))
    for url in chart_urls(db):
        seen.append(hashlib.sha256(await download(lead, url)).hexdigest())
    return seen


def chart_urls(db: Database) -> list[str]:
    def read(session: Session) -> list[str]:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "summary")).all()
        urls = []
        for row in rows:
            card = json.loads(row.payload)["activity"]["attachments"][0]["content"]
            urls += [e["url"] for e in card["body"] if e.get("type") == "Image"]
        return urls

    return db.run_sync(read)


def frozen_inputs(db: Database, round_id: int) -> list[tuple[Any, ...]]:
    """The roster rows that feed the round's results."""

    def read(session: Session) -> list[tuple[Any, ...]]:
        people = session.exec(
            select(RoundParticipant).where(RoundParticipant.round_id == round_id)
        ).all()
        ids = [p.id for p in people]
        teams = session.exec(
            select(RoundParticipantTeam).where(col(RoundParticipantTeam.participant_id).in_(ids))
        ).all()
        return sorted((p.id, p.person_id, p.role, p.assessment_id) for p in people) + sorted(
            (t.participant_id, t.team_id, t.team_role) for t in teams
        )

    return db.run_sync(read)


@pytest.fixture
async def ward(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: Any,
) -> Any:
    # Thresholds of 3, so that the ward's figures and comments are shown once it closes.
    settings = settings_factory(
        public_url=PUBLIC, admin_ids=ADMIN_AAD, min_group_size=3, min_comment_group_size=3
    )
    app = create_app(settings, db=db, clock=clock)
    runner, url = await serve(app)
    lead = TeamsUser(bot_url=url, connector=connector, session=http, name="Sam Lead")
    lead.aad_object_id = ADMIN_AAD
    await lead.add_bot_to_team(WARD, "Ward 7")
    roster = [member(n, lead.tenant_id) for n in range(STAFF)]
    roster[OWNER]["userRole"] = "owner"
    connector.conversations[WARD].members = roster

    def staff(n: int) -> TeamsUser:
        person = TeamsUser(
            bot_url=url, connector=connector, session=http, user_id=f"29:staff-{n}",
            name=f"Staff {n}",
        )  # fmt: skip
        person.tenant_id = lead.tenant_id
        return person

    spec = RoundSpec("Winter 2026", (WARD,), clock.now, clock.now + timedelta(days=7),
                     "3d", role_question=True)  # fmt: skip
    round_id = db.run_sync(
        lambda s: create_round(s, spec, framework=FRAMEWORK, actor="t", now=clock.now).id
    )
    jobs = round_steps(app[CONTEXT_KEY])
    await jobs.run_due(clock.now)
    team_id = db.run_sync(lambda s: s.exec(select(Team.id).where(Team.team_id == WARD)).one())
    yield jobs, staff, lead, round_id, team_id
    await runner.cleanup()


async def test_before_the_close_one_persons_answers_change_nothing_anyone_sees(
    ward: Any, db: Database, clock: Clock
) -> None:
    _jobs, staff, lead, round_id, team_id = ward
    owner, tenant = staff(OWNER), lead.tenant_id
    for n, level in ((1, 2), (2, 3), (3, 3), (4, 4), (5, 5)):
        aid = answer_all(db, identity(tenant, n), round_id, level, clock.now)
        submit(db, identity(tenant, n), aid, clock.now)

    before = await views(owner, lead, db, round_id, team_id)
    text = "\n".join(before)
    assert "5 of 7 responded" in text, "response counts are shown while it is open"
    assert not any(word in text for word in LEVEL_WORDS), "no figures while it is open"
    assert "note from staff" not in text, "no comments while it is open"
    assert chart_urls(db) == [], "no chart while it is open"

    # The target submits, then changes their answers and submits again, at every level: each
    # time the attacker replays every view.
    target = identity(tenant, TARGET)
    aid = answer_all(db, target, round_id, 1, clock.now)
    submit(db, target, aid, clock.now)
    seen = {}
    for level in (1, 5, 3, 2, 4):
        outcome = change_and_resubmit(db, target, level, clock.now)
        assert outcome.snapshot.status.value == "submitted"
        seen[level] = await views(owner, lead, db, round_id, team_id)
    first = seen[1]
    assert all(v == first for v in seen.values()), "the views say nothing of their answers"
    # Their first submission moved the count and rate, and nothing else.
    moved = [v.replace("5 of 7 responded (71%)", "6 of 7 responded (86%)") for v in before]
    assert moved != before
    assert moved == first
    # A role chosen (or changed) while open shows nothing either.
    await staff(TARGET).execute("x", "role", {"verb": "role", "round": round_id,
                                              "role": "frontline_clinical"})  # fmt: skip
    assert await views(owner, lead, db, round_id, team_id) == first
    assert db.run_sync(lambda s: s.exec(select(FrozenResult)).all()) == []


async def test_after_the_close_everything_is_frozen_and_identical(
    ward: Any, db: Database, clock: Clock
) -> None:
    jobs, staff, lead, round_id, team_id = ward
    owner, tenant = staff(OWNER), lead.tenant_id
    for n, level in ((0, 1), (1, 2), (2, 3), (3, 3), (4, 4)):
        aid = answer_all(db, identity(tenant, n), round_id, level, clock.now)
        submit(db, identity(tenant, n), aid, clock.now)
    late_draft = answer_all(db, identity(tenant, 5), round_id, 5, clock.now)  # not submitted
    clock.now += timedelta(days=8)
    assert await jobs.close_due(clock.now) == [round_id]

    frozen = await views(owner, lead, db, round_id, team_id)
    text = "\n".join(frozen)
    assert "5 of 7 responded" in text
    assert any(word in text for word in LEVEL_WORDS), "figures once it has closed"
    assert "csv " in text, "the improvement team downloads the CSV"
    assert "xlsx " in text, "and the Excel file"
    assert len(chart_urls(db)) == 1
    inputs = frozen_inputs(db, round_id)

    # A minute later, every late attempt: a submit of the draft, a change of answers and a new
    # submission, a role changed; all refused, nothing stored.
    clock.now += timedelta(minutes=1)
    late = submit(db, identity(tenant, 5), late_draft, clock.now)
    assert late.result == Refused(Refusal.ROUND_OVER)
    assert change_and_resubmit(db, identity(tenant, 0), 5, clock.now) == Refused(
        Refusal.ROUND_CLOSED
    )
    role = await staff(1).execute("x", "role", {"verb": "role", "round": round_id,
                                                "role": "board_executive"})  # fmt: skip
    assert "has closed, so your role can't be changed now" in card_text(role.body["value"])
    assert frozen_inputs(db, round_id) == inputs, "the roster rows do not change"

    assert await views(owner, lead, db, round_id, team_id) == frozen, "byte for byte"


async def test_a_late_answer_gets_a_clear_note_on_a_live_card(
    ward: Any, db: Database, clock: Clock
) -> None:
    jobs, staff, _lead, round_id, _team_id = ward
    nurse = staff(3)
    await nurse.execute("invitation", "start", {"verb": "start", "round": round_id})
    await nurse.press("Continue", {"role": "frontline_clinical"})
    card_id, question = nurse.last_card()
    assert "Question 1 of" in card_text(question)
    clock.now += timedelta(days=8)
    await jobs.close_due(clock.now)

    result = await nurse.press("Next", {"level": "3"}, card_id=card_id)
    card = reply_card(nurse, result)
    assert "That round has closed, so nothing more can be answered" in card_text(card)
    actions = [a for a in card.get("actions", []) if a.get("type") == "Action.Execute"]
    assert actions, "a live card: buttons still work"
    assert "Question 1 of" in card_text(card), "still their question, to restart from"
    assert db.run_sync(lambda s: s.exec(select(Answer)).all()) == [], "nothing was stored"
    assert db.run_sync(lambda s: s.exec(select(ChartImage)).all()) == [], (
        "no image is stored for a team whose results are hidden"
    )
