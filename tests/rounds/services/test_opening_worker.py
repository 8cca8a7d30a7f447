"""An opening's invitation batches drawn in the worker process (store.process_reads) are the
ones this process draws for the same data, and queue the same messages; on a file SQLite
database and on PostgreSQL. A batch is read while the one before it is written, from after its
last participant: nobody is invited twice or skipped."""

from __future__ import annotations

import functools
import pickle
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bot.cards.rounds.messages import RoundCards
from rounds.rules.schedule import ReminderPlan
from rounds.services import opening as opening_service
from rounds.services.opening import (
    InvitationDrawing,
    RoundOpener,
    draw_invitations,
    draw_invitations_there,
)
from store.db import Database
from store.outbox import OutboxMessage
from store.people import ConversationRef, Person
from store.rounds.lifecycle import RoundSpec, create_round
from store.rounds.opening import Invitation, uninvited
from store.rounds.tables import Round, RoundParticipant
from tests.rounds.services import test_steps_at_scale as at_scale
from tests.rounds.services.test_opening import member
from tests.rounds.services.test_steps_at_scale import FRAMEWORK, TEAMS, WEDNESDAY, World, batches

pytestmark = pytest.mark.service
world = at_scale.world  # the fixture: the service on a fresh database, two teams installed


async def opened_uninvited(world: World, monkeypatch: pytest.MonkeyPatch) -> int:
    """A round over both teams (14 people, staff 5 to 7 in both), opened with nobody invited
    yet; some people have a 1:1 chat with the bot and some a Teams time zone of their own."""
    large = [member(n, world.tenant) for n in range(0, 8)]
    small = [member(n, world.tenant) for n in (5, 6, 7, *range(100, 106))]
    world.connector.conversations[TEAMS[1]].members = large
    world.connector.conversations[TEAMS[0]].members = small
    spec = RoundSpec("Winter 2026", TEAMS, WEDNESDAY, WEDNESDAY + timedelta(days=14), "3d,7d")
    round_id = world.db.run_sync(
        lambda s: create_round(s, spec, framework=FRAMEWORK, actor="t", now=WEDNESDAY).id
    )
    opener = world.steps.opener

    async def nobody(_round_id: int, _now: Any) -> int:
        return 0

    with monkeypatch.context() as patch:
        patch.setattr(opener, "invite", nobody)
        assert await opener.open_due(WEDNESDAY)

    def vary(session: Any) -> None:
        for person in session.exec(select(Person).order_by(Person.id)).all():
            if person.id % 3 == 0:
                session.add(
                    ConversationRef(
                        conversation_id=f"a:chat-{person.id}",
                        scope="personal",
                        person_id=person.id,
                        tenant_id=world.tenant,
                        service_url="https://smba.example/",
                        reference="{}",
                        updated_at=WEDNESDAY,
                    )
                )
            if person.id % 4 == 1:
                person.time_zone = "America/New_York"

    world.db.run_sync(vary)
    assert round_id is not None
    return round_id


def drawing_of(world: World, round_id: int) -> InvitationDrawing:
    round_ = world.db.run_sync(lambda s: s.get(Round, round_id))
    return world.steps.opener.drawing(round_)


def outbox(db: Database) -> dict[str, tuple[Any, ...]]:
    rows = db.run_sync(
        lambda s: s.exec(select(OutboxMessage).where(OutboxMessage.kind == "invitation")).all()
    )
    return {
        r.dedupe_key: (r.tenant_id, r.person_id, r.team_id, r.round_id, r.payload, r.not_before)
        for r in rows
    }


def first_nudges(db: Database, round_id: int) -> dict[int, Any]:
    rows = db.run_sync(
        lambda s: s.exec(
            select(RoundParticipant.id, RoundParticipant.next_nudge_at).where(
                RoundParticipant.round_id == round_id,
                col(RoundParticipant.invited_at).is_not(None),
            )
        ).all()
    )
    return {participant: at for participant, at in rows if participant is not None}


async def test_the_worker_draws_the_invitations_this_process_draws(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    round_id = await opened_uninvited(world, monkeypatch)
    drawing = drawing_of(world, round_id)
    reads = world.steps.opener.process_reads
    assert reads is not None, "a database another process can open: the service has a worker"

    here = world.db.read_sync(functools.partial(draw_invitations, drawing, 100, None, cards={}))
    there = await reads.read(functools.partial(draw_invitations_there, drawing, 100, None))

    assert there == here
    assert len(here) == 14
    targets = {i.message.target.is_person for i in here}
    assert targets == {True, False}, "some to their chat, some through their team"
    assert len({i.next_nudge_at for i in here}) == 2, "two zones, two first nudge times"
    assert len({i.message.activity_json for i in here}) == 3, "three sets of teams, three cards"
    paged = world.db.read_sync(
        functools.partial(draw_invitations, drawing, 5, here[4].participant_id, cards={})
    )
    assert paged == here[5:10]


@pytest.mark.parametrize("where", ["worker", "here"])
async def test_batches_drawn_in_either_place_queue_what_one_draw_predicts(
    world: World, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Batches of 4 (the next read while the last is written), drawn in the worker or here:
    each person's invitation queued once, as one draw of everyone predicts, and stamped with
    their first nudge time."""
    round_id = await opened_uninvited(world, monkeypatch)
    drawing = drawing_of(world, round_id)
    predicted: list[Invitation] = world.db.read_sync(
        functools.partial(draw_invitations, drawing, 100, None, cards={})
    )
    opener = world.steps.opener
    batches(world.steps, 4)
    if where == "worker":

        def not_here(*_args: Any, **_kwargs: Any) -> Any:
            raise AssertionError("drawn in the service's process")

        monkeypatch.setattr(opening_service, "draw_invitations", not_here)
    else:
        opener.process_reads = None

    assert await opener.invite(round_id, WEDNESDAY) == 14
    assert await opener.invite(round_id, WEDNESDAY) == 0, "nobody left, nothing twice"

    queued = outbox(world.db)
    assert sorted(queued) == sorted(i.message.dedupe_key for i in predicted)
    for invitation in predicted:
        message = invitation.message
        tenant, person, team, round_, payload, _not_before = queued[message.dedupe_key]
        assert (tenant, person, team, round_) == (
            message.tenant_id,
            message.person_id,
            message.team_id,
            message.round_id,
        )
        assert message.activity_json in payload
    nudges = first_nudges(world.db, round_id)
    assert nudges == {i.participant_id: i.next_nudge_at for i in predicted}


async def test_uninvited_pages_after_a_participant(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    round_id = await opened_uninvited(world, monkeypatch)
    everyone = world.db.read_sync(lambda s: uninvited(s, round_id, 100))
    ids = [i.participant_id for i in everyone]
    assert ids == sorted(ids)
    after = world.db.read_sync(lambda s: uninvited(s, round_id, 3, after=ids[5]))
    assert [i.participant_id for i in after] == ids[6:9]


def test_the_round_cards_pickle_and_draw_the_same_invitation() -> None:
    """The worker draws the cards with the messages the service passes: RoundCards pickles."""
    cards = RoundCards()
    again = pickle.loads(pickle.dumps(cards))
    drawing = InvitationDrawing(
        round_id=1,
        round_name="Winter",
        closes_on="Friday 11 December",
        question_count=22,
        minutes=(10, 15),
        opens_at=WEDNESDAY,
        closes_at=WEDNESDAY + timedelta(days=14),
        not_before=WEDNESDAY,
        plan=ReminderPlan.parse("3d"),
        zone="Europe/London",
        messages=cards,
    )
    view = drawing.view(("Ward 7",))
    assert again.invitation(view) == cards.invitation(view)
    assert pickle.loads(pickle.dumps(drawing)) == drawing


async def test_messages_that_do_not_pickle_are_drawn_here(world: World) -> None:
    class Local(RoundCards):  # a class inside a function does not pickle
        pass

    opener = world.steps.opener
    assert opener.process_reads is not None
    here = RoundOpener(
        world.db,
        opener.rosters,
        FRAMEWORK,
        opener.options,
        Local(),
        process_reads=opener.process_reads,
    )
    assert here.process_reads is None


async def test_drawn_here_an_opening_runs_the_same_statements_for_twice_the_people(
    world: World,
) -> None:
    """Without a worker the batches are read on this process's connections, where they can be
    counted: 12 people in batches of 4 and 24 in batches of 8, the same statements."""
    world.steps.opener.process_reads = None
    counts = []
    for team, first, people in ((TEAMS[0], 0, 12), (TEAMS[1], 100, 24)):
        batches(world.steps, people // 3)
        world.new_round(team, first, people)
        with at_scale.counting(world.db) as opened:
            assert await world.steps.open_due(WEDNESDAY) == 1
        counts.append(opened.total)
    assert counts[0] == counts[1]
