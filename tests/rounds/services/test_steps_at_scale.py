"""The round steps on sets: statements per batch, not per person (counted with a SQLAlchemy
event listener), a nudge tick with nobody due that writes nothing, and steps that crash mid-way
and run again queuing each message exactly once; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import select

from bot.config import Settings
from framework.content import default_framework
from framework.identity import Identity
from impact.features.rounds import round_steps
from impact.service import CONTEXT_KEY, create_app
from rounds.services import opening as opening_service
from rounds.services.jobs import RoundJobSource
from rounds.services.opening import Lead
from rounds.services.steps import RoundSteps, plan_and_record_nudges
from store.db import Database
from store.outbox import OutboxMessage, Queued, Target, enqueue_many
from store.people import ConversationRef, Person
from store.process_reads import ProcessReads
from store.rounds import steps as step_queries
from store.rounds.frozen import frozen_results
from store.rounds.lifecycle import RoundSpec, create_round, extend_round
from store.rounds.tables import Round, RoundParticipant
from tests.conftest import Clock, serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser, card_text
from tests.rounds.services.test_opening import member
from tests.rounds.services.test_steps import complete

pytestmark = pytest.mark.service

FRAMEWORK = default_framework()
WEDNESDAY = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
THURSDAY = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # before the first reminder ("3d")
MONDAY = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # the "3d" reminder, moved past the weekend
WRITES = ("INSERT", "UPDATE", "DELETE")


@dataclass
class Statements:
    """Every statement the database engine runs while counting (executemany counts once)."""

    seen: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.seen)

    @property
    def writes(self) -> list[str]:
        return [s for s in self.seen if s.lstrip().upper().startswith(WRITES)]


@contextmanager
def counting(db: Database) -> Iterator[Statements]:
    found = Statements()

    def record(*args: Any) -> None:
        found.seen.append(args[2])

    engines = [db.engine] + ([db._reader] if db._reader is not None else [])
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield found
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


@dataclass
class World:
    db: Database
    steps: RoundSteps
    connector: FakeConnector
    tenant: str
    new_round: Callable[[str, int, int], int]  # team, first member number, people → round id


@pytest.fixture
async def world(
    db: Database,
    settings_factory: Callable[..., Settings],
    connector: FakeConnector,
    http: Any,
) -> Any:
    clock = Clock(WEDNESDAY)
    app = create_app(settings_factory(), db=db, clock=clock)
    runner, url = await serve(app)
    lead = TeamsUser(bot_url=url, connector=connector, session=http, name="Sam Lead")

    async def install(team: str) -> None:
        await lead.add_bot_to_team(team, team.split(":")[1].split("@")[0])

    def new_round(team: str, first: int, people: int) -> int:
        connector.conversations[team].members = [
            member(n, lead.tenant_id) for n in range(first, first + people)
        ]
        spec = RoundSpec("Winter 2026", (team,), WEDNESDAY, WEDNESDAY + timedelta(days=14), "3d")
        return db.run_sync(
            lambda s: create_round(s, spec, framework=FRAMEWORK, actor="t", now=WEDNESDAY).id
        )

    for team in TEAMS:
        await install(team)
    yield World(db, round_steps(app[CONTEXT_KEY]), connector, lead.tenant_id, new_round)
    await runner.cleanup()


TEAMS = ("19:small@thread.tacv2", "19:large@thread.tacv2")


def batches(steps: RoundSteps, size: int, part: int | None = None) -> None:
    """People per read; and per write transaction (`part`), if given."""
    steps.batch = steps.opener.batch = size
    if part is not None:
        steps.write_part = steps.opener.write_part = part


def give_everyone_a_chat(db: Database, tenant: str) -> None:
    """Their invitations were sent: each has a 1:1 chat with the bot (the sender stores it)."""

    def work(session: Any) -> None:
        for person in session.exec(select(Person)).all():
            session.add(
                ConversationRef(
                    conversation_id=f"a:chat-{person.id}",
                    scope="personal",
                    person_id=person.id,
                    tenant_id=tenant,
                    service_url="https://smba.example/",
                    reference="{}",
                    updated_at=WEDNESDAY,
                )
            )

    db.run_sync(work)


def messages(db: Database, kind: str) -> Counter[str]:
    keys = db.run_sync(
        lambda s: s.exec(select(OutboxMessage.dedupe_key).where(OutboxMessage.kind == kind)).all()
    )
    return Counter(keys)


@pytest.mark.parametrize("planned", ["in the worker", "here"])
async def test_each_step_runs_the_same_statements_for_twice_the_people_in_as_many_batches(
    world: World, planned: str
) -> None:
    """12 people in batches of 4 and 24 people in batches of 8: three batches each, and the
    same number of statements for opening, a tick with nobody due and a tick nudging everyone.
    Planned in the worker process, the nudges' reads run there (not counted here); planned
    here, they are counted with the rest."""
    if planned == "here":
        world.steps.process_reads = None
    else:
        assert world.steps.process_reads is not None
    counts: dict[str, list[int]] = {"open": [], "idle tick": [], "nudge tick": []}
    for team, first, people in ((TEAMS[0], 0, 12), (TEAMS[1], 100, 24)):
        batches(world.steps, people // 3)
        round_id = world.new_round(team, first, people)
        with counting(world.db) as opened:
            assert await world.steps.open_due(WEDNESDAY) == 1
        counts["open"].append(opened.total)
        assert len(messages(world.db, "invitation")) == people + (12 if first else 0)
        give_everyone_a_chat(world.db, world.tenant)

        with counting(world.db) as idle:
            assert await world.steps.nudge_due(THURSDAY) == 0
        counts["idle tick"].append(idle.total)
        assert idle.writes == [], "a tick with nobody due writes nothing"

        with counting(world.db) as nudging:
            assert await world.steps.nudge_due(MONDAY) == people
        counts["nudge tick"].append(nudging.total)
        assert all(n == 1 for n in messages(world.db, "nudge").values())
        world.db.run_sync(lambda s, r=round_id: s.get(Round, r).__setattr__("status", "closed"))
        world.db.run_sync(lambda s: s.execute(sa.delete(ConversationRef)))

    for step, (small, large) in counts.items():
        assert small == large, f"{step}: {small} statements for 12 people, {large} for 24"


async def test_a_tick_reads_each_batch_on_from_where_the_last_ended(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next batch is read while the last one is recorded, from the last one's position in
    the (next nudge time, id) order: nobody is decided twice in one tick, nobody is skipped.
    (On PostgreSQL with a worker process each batch is decided and recorded there, one after
    the other: test_a_due_tick_plans_in_the_worker_process_and_on_postgresql_records_there.)"""
    if not world.db.is_sqlite:
        world.steps.process_reads = None
    batches(world.steps, 5)
    world.new_round(TEAMS[1], 0, 12)
    await world.steps.open_due(WEDNESDAY)
    give_everyone_a_chat(world.db, world.tenant)
    decided: list[int] = []
    real = world.steps.plan_batch

    async def plan(now: datetime, after: Any) -> Any:
        outcomes = await real(now, after)
        decided.extend(o.participant_id for o in outcomes)
        return outcomes

    monkeypatch.setattr(world.steps, "plan_batch", plan)
    assert await world.steps.nudge_due(MONDAY) == 12
    assert len(decided) == len(set(decided)) == 12
    first_five = world.db.run_sync(lambda s: step_queries.nudge_candidates(s, MONDAY, 5))
    assert first_five == [], "all nudged: nobody due any more"


@pytest.mark.parametrize("planned", ["in the worker", "here"])
async def test_an_idle_tick_is_one_query_for_who_is_due(
    world: World, monkeypatch: pytest.MonkeyPatch, planned: str
) -> None:
    """Three indexed reads in the service, whether the nudges are planned in the worker
    process or here: with nobody due the worker is not asked (a round trip to it and back)."""
    if planned == "here":
        world.steps.process_reads = None
    world.new_round(TEAMS[1], 0, 30)
    await world.steps.open_due(WEDNESDAY)
    asked: list[object] = []
    if world.steps.process_reads is not None:
        await world.steps.process_reads.start()  # as the first tick would, in the background
        monkeypatch.setattr(world.steps.process_reads, "read", asked.append)
    with counting(world.db) as idle:
        assert await world.steps.nudge_due(THURSDAY) == 0
    selects = [s for s in idle.seen if s.lstrip().upper().startswith("SELECT")]
    # One each for invitations still to queue, rounds that now close later (nudge_recheck_at)
    # and who is due; nothing per person.
    assert len(selects) == 3, idle.seen
    assert idle.writes == []
    assert asked == [], "nobody due: the worker was not asked"


async def test_the_worker_plans_the_nudges_the_service_would_plan(world: World) -> None:
    """The same batch decided in the worker process and on a read thread here: the same
    outcomes, to the message (counters, next times, targets, dedupe keys, card JSON). Some
    people have no chat (their nudge goes through their team), one has a zone of their own
    and one is opted out; two teams' rounds at once."""
    world.new_round(TEAMS[0], 0, 4)
    world.new_round(TEAMS[1], 100, 9)
    await world.steps.open_due(WEDNESDAY)
    give_everyone_a_chat(world.db, world.tenant)

    def vary(session: Any) -> None:
        people = session.exec(select(Person).order_by(Person.id)).all()
        people[0].time_zone = "America/New_York"
        for person in people[1:3]:  # their invitation failed: a nudge through their team
            session.execute(
                sa.delete(ConversationRef).where(ConversationRef.person_id == person.id)
            )
            session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.person_id == person.id)  # type: ignore[arg-type]
                .values(status="failed")
            )
        participant = session.exec(select(RoundParticipant).order_by(RoundParticipant.id)).first()
        participant.opted_out = True

    world.db.run_sync(vary)
    reads = world.steps.process_reads
    assert reads is not None
    batches(world.steps, 5)
    there, here = [], []
    after = None
    while True:
        planned_there = await world.steps.plan_batch(MONDAY, after)
        world.steps.process_reads = None
        planned_here = await world.steps.plan_batch(MONDAY, after)
        world.steps.process_reads = reads
        assert planned_there == planned_here
        there.extend(planned_there)
        here.extend(planned_here)
        if not planned_there:
            break
        after = step_queries.position_of(planned_there[-1])
    assert len(there) == 13
    messages_planned = [o.message for o in there if o.message is not None]
    assert 10 <= len(messages_planned) < 13, "the opted-out one (and any out of hours) not nudged"
    assert sum(1 for m in messages_planned if m.target.conversation_id is None) == 2


def sizes_of_calls(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, items: Callable[..., Any]
) -> list[int]:
    """How many items (`items(*args)`) each call of `module.name` had, in order (each still
    done)."""
    sizes: list[int] = []
    real = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        sizes.append(len(items(*args, **kwargs)))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return sizes


def ways_asked(reads: ProcessReads, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which of the worker's `read` and `run` the step asked, in order (each still done)."""
    asked: list[str] = []
    for way in ("read", "run"):
        real = getattr(reads, way)

        async def asking(work: Any, way: str = way, real: Any = real) -> Any:
            asked.append(way)
            return await real(work)

        monkeypatch.setattr(reads, way, asking)
    return asked


async def test_a_due_tick_plans_in_the_worker_process_and_on_postgresql_records_there(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches(world.steps, 5)
    world.new_round(TEAMS[1], 0, 12)
    await world.steps.open_due(WEDNESDAY)
    give_everyone_a_chat(world.db, world.tenant)
    reads = world.steps.process_reads
    assert reads is not None
    asked = ways_asked(reads, monkeypatch)
    counted = world.db.run
    service_writes: list[object] = []

    async def run(work: Any) -> Any:
        service_writes.append(work)
        return await counted(work)

    monkeypatch.setattr(world.db, "run", run)
    assert await world.steps.nudge_due(MONDAY) == 12
    # A batch of 5, 5, then 2 (the last, shorter: none after it); on PostgreSQL each decided
    # and recorded there, on SQLite decided there and recorded here (by SQLite's one writer).
    if world.db.is_sqlite:
        assert asked == ["read"] * 3
        assert len(service_writes) == 3
    else:
        assert asked == ["run"] * 3
        assert service_writes == [], "nothing written by the service's own threads"
    assert all(n == 1 for n in messages(world.db, "nudge").values())


async def test_an_opening_draws_in_the_worker_process_and_on_postgresql_records_there(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches(world.steps, 5)
    world.new_round(TEAMS[1], 0, 12)
    reads = world.steps.opener.process_reads
    assert reads is not None
    asked = ways_asked(reads, monkeypatch)
    recorded_here = sizes_of_calls(
        monkeypatch, opening_service, "record_invitations", lambda _s, **kw: kw["invitations"]
    )
    [result] = await world.steps.opener.open_due(WEDNESDAY)
    assert result.invited == 12
    # A batch of 5, 5, then 2; on PostgreSQL each drawn and recorded there, on SQLite drawn
    # there and recorded here (by SQLite's one writer).
    if world.db.is_sqlite:
        assert asked == ["read"] * 3
        assert recorded_here == [5, 5, 2]
    else:
        assert asked == ["run"] * 3
        assert recorded_here == [], "nothing recorded by the service's own threads"
    invitations = messages(world.db, "invitation")
    assert len(invitations) == 12
    assert set(invitations.values()) == {1}


def assert_each_nudged_once(db: Database, people: int) -> None:
    nudges = messages(db, "nudge")
    assert len(nudges) == people
    assert set(nudges.values()) == {1}


class Crash(Exception):
    """The process died here."""


def crash_on_call(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, call: int) -> None:
    """`module.name` works until its `call`-th call, which dies before it does anything."""
    real = getattr(module, name)
    calls = {"n": 0}

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == call:
            raise Crash(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, dying)


@pytest.mark.parametrize("part", [None, 2], ids=["batches whole", "batches in parts of 2"])
@pytest.mark.parametrize("where", ["freeze_people", "record_invitations"])
async def test_an_opening_that_dies_mid_way_invites_everyone_once_when_run_again(
    world: World, monkeypatch: pytest.MonkeyPatch, where: str, part: int | None
) -> None:
    if where == "record_invitations" and not world.db.is_sqlite:
        world.steps.opener.process_reads = None  # a worker records there: the test after
    batches(world.steps, 5, part)
    round_id = world.new_round(TEAMS[1], 0, 23)
    with monkeypatch.context() as patch:
        crash_on_call(patch, opening_service, where, 3)
        with pytest.raises(Crash):
            await world.steps.open_due(WEDNESDAY)
    # The next steps finish it: the opening (if the round is still scheduled), or the tick.
    await world.steps.open_due(WEDNESDAY + timedelta(minutes=1))
    await world.steps.nudge_due(WEDNESDAY + timedelta(minutes=1))
    await world.steps.nudge_due(WEDNESDAY + timedelta(minutes=2))
    invitations = messages(world.db, "invitation")
    assert len(invitations) == 23
    assert set(invitations.values()) == {1}
    participants = world.db.run_sync(
        lambda s: s.exec(
            select(RoundParticipant).where(RoundParticipant.round_id == round_id)
        ).all()
    )
    assert len(participants) == 23
    assert all(p.invited_at is not None for p in participants)
    assert world.db.run_sync(lambda s: s.get(Round, round_id).status) == "open"


async def test_an_opening_whose_worker_process_dies_invites_everyone_once_when_run_again(
    world: World,
) -> None:
    """PostgreSQL: the worker process that draws and records each batch of invitations is
    killed after the third batch. The opening fails; the next tick starts a new worker and
    invites the rest, everyone once."""
    if world.db.is_sqlite:
        pytest.skip("on SQLite the service records the invitations itself (the test before)")
    reads = world.steps.opener.process_reads
    assert reads is not None
    batches(world.steps, 1)
    world.steps.opener.lead = Lead(longest_wait=0)  # no sender here: no lead to keep
    round_id = world.new_round(TEAMS[1], 0, 7)
    worker = await reads.call(os.getpid)
    ways = {"n": 0}

    async def give_way() -> None:  # before each batch: the worker dies before the fourth
        ways["n"] += 1
        if ways["n"] == 1 + 7 + 4:  # the roster read, 7 freeze parts, the fourth batch
            for _ in range(500):  # the third batch is recorded while the fourth is drawn
                if len(messages(world.db, "invitation")) == 3:
                    break
                await asyncio.sleep(0.01)
            os.kill(worker, signal.SIGKILL)
            await asyncio.sleep(0.2)  # the pool's manager thread sees its worker gone

    world.steps.opener.give_way = give_way
    with pytest.raises(BrokenProcessPool):
        await world.steps.open_due(WEDNESDAY)
    assert len(messages(world.db, "invitation")) == 3
    assert await world.steps.nudge_due(WEDNESDAY + timedelta(minutes=1)) == 0
    assert await reads.call(os.getpid) != worker, "a new worker"
    invitations = messages(world.db, "invitation")
    assert len(invitations) == 7
    assert set(invitations.values()) == {1}
    assert world.db.run_sync(lambda s: s.get(Round, round_id).status) == "open"


@pytest.mark.parametrize("part", [None, 2], ids=["batches whole", "batches in parts of 2"])
async def test_a_nudge_tick_that_dies_mid_way_nudges_everyone_once_when_run_again(
    world: World, monkeypatch: pytest.MonkeyPatch, part: int | None
) -> None:
    """Recorded by the service (on PostgreSQL also without a worker process: a worker that
    dies is the next test)."""
    if not world.db.is_sqlite:
        world.steps.process_reads = None
    batches(world.steps, 5, part)
    world.new_round(TEAMS[1], 0, 23)
    await world.steps.open_due(WEDNESDAY)
    give_everyone_a_chat(world.db, world.tenant)
    with monkeypatch.context() as patch:
        crash_on_call(patch, step_queries, "record_nudges", 3)
        with pytest.raises(Crash):
            await world.steps.nudge_due(MONDAY)
    assert 0 < len(messages(world.db, "nudge")) < 23
    assert await world.steps.nudge_due(MONDAY + timedelta(minutes=1)) > 0
    assert await world.steps.nudge_due(MONDAY + timedelta(minutes=2)) == 0
    assert_each_nudged_once(world.db, 23)


async def test_a_due_tick_whose_worker_process_dies_nudges_everyone_once_when_run_again(
    world: World,
) -> None:
    """PostgreSQL: the worker process that decides and records each batch is killed after the
    third batch. The tick fails; the next one starts a new worker, and everyone is nudged once."""
    if world.db.is_sqlite:
        pytest.skip("on SQLite the service records the nudges itself (the test before)")
    reads = world.steps.process_reads
    assert reads is not None
    batches(world.steps, 1)
    world.new_round(TEAMS[1], 0, 7)
    await world.steps.open_due(WEDNESDAY)
    give_everyone_a_chat(world.db, world.tenant)
    worker = await reads.call(os.getpid)
    ways = {"n": 0}
    killed = asyncio.Event()

    async def give_way() -> None:  # before each batch: the worker dies before the fourth
        ways["n"] += 1
        if ways["n"] == 4:
            for _ in range(500):  # the third batch is recorded while the fourth is decided
                if len(messages(world.db, "nudge")) == 3:
                    break
                await asyncio.sleep(0.01)
            os.kill(worker, signal.SIGKILL)
            killed.set()
            await asyncio.sleep(0.2)  # the pool's manager thread sees its worker gone

    world.steps.give_way = give_way
    with pytest.raises(BrokenProcessPool):
        await world.steps.nudge_due(MONDAY)
    assert killed.is_set()
    assert len(messages(world.db, "nudge")) == 3
    assert await world.steps.nudge_due(MONDAY + timedelta(minutes=1)) == 4
    assert await reads.call(os.getpid) != worker, "a new worker"
    assert await world.steps.nudge_due(MONDAY + timedelta(minutes=2)) == 0
    assert_each_nudged_once(world.db, 7)


async def test_a_batch_decided_and_recorded_in_the_worker_is_recorded_in_parts(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the worker process runs for each batch on PostgreSQL (`plan_and_record_nudges`),
    run here to watch it: 6 people decided, recorded 4 then 2 (each part its own transaction)
    while the next 6 are decided, whose call counts them; the next batch starts after the last
    of them, and the last call (nobody left) waits for the batch before it."""
    batches(world.steps, 6, 4)
    world.new_round(TEAMS[1], 0, 12)
    await world.steps.open_due(WEDNESDAY)
    give_everyone_a_chat(world.db, world.tenant)
    sizes = sizes_of_calls(
        monkeypatch, step_queries, "record_nudges", lambda session, outcomes, now: outcomes
    )
    planner = world.steps.nudge_planner()
    first = plan_and_record_nudges(planner, MONDAY, None, 4, "tick", world.db)
    second = plan_and_record_nudges(planner, MONDAY, first.after, 4, "tick", world.db)
    last = plan_and_record_nudges(planner, MONDAY, second.after, 4, "tick", world.db)
    assert (first.written, first.drawn, second.written, second.drawn) == (0, 6, 6, 6)
    assert (last.written, last.drawn, last.after) == (6, 0, second.after)
    assert sizes == [4, 2, 4, 2]
    assert_each_nudged_once(world.db, 12)


async def test_a_batch_is_written_in_parts_each_its_own_transaction(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read 6 people at a time, written 4 at a time (on SQLite 200 and 50: a turn's write then
    waits for one part on the service's writer thread, not a whole batch): the freeze, the
    invitations and the nudges each go to the database in parts, giving way to turns before
    every part after a batch's first, and everyone is still invited and nudged once."""
    if not world.db.is_sqlite:  # with a worker the steps record there (the tests before)
        world.steps.process_reads = world.steps.opener.process_reads = None
    batches(world.steps, 6, 4)
    world.new_round(TEAMS[1], 0, 12)
    sizes: dict[str, list[int]] = {}

    def recording(module: Any, name: str, people: Callable[..., Any]) -> None:
        real = getattr(module, name)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            sizes.setdefault(name, []).append(len(people(*args, **kwargs)))
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, recorded)

    recording(opening_service, "freeze_people", lambda _s, _r, entries, _n: entries)
    recording(opening_service, "record_invitations", lambda _s, **kw: kw["invitations"])
    recording(step_queries, "record_nudges", lambda _s, outcomes, now: outcomes)
    give_ways = {"n": 0}

    async def give_way() -> None:
        give_ways["n"] += 1

    world.steps.give_way = world.steps.opener.give_way = give_way
    assert await world.steps.open_due(WEDNESDAY) == 1
    give_everyone_a_chat(world.db, world.tenant)
    assert await world.steps.nudge_due(MONDAY) == 12
    assert sizes == {
        "freeze_people": [4, 4, 4],
        "record_invitations": [4, 2, 4, 2],
        "record_nudges": [4, 2, 4, 2],
    }
    assert set(messages(world.db, "invitation").values()) == {1}
    assert len(messages(world.db, "nudge")) == 12
    # opening: 1 team's roster read + 3 freeze parts + 3 batches read + 2 second parts; the
    # tick: 3 batches read + 2 second parts
    assert give_ways["n"] == 1 + 3 + 3 + 2 + 3 + 2


async def test_a_close_that_dies_before_its_summaries_queues_them_once_when_run_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    round_id = world.new_round(TEAMS[1], 0, 7)
    await world.steps.open_due(WEDNESDAY)
    for n in range(6):
        identity = Identity(world.tenant, f"29:staff-{n}", None, f"Staff {n}")
        complete(world.db, identity, round_id, 3, WEDNESDAY)
    closing = WEDNESDAY + timedelta(days=15)
    with monkeypatch.context() as patch:
        crash_on_call(patch, step_queries, "record_summaries", 1)
        with pytest.raises(Crash):
            await world.steps.close_due(closing)
    assert world.db.run_sync(lambda s: s.get(Round, round_id).status) == "closed"
    assert messages(world.db, "summary") == Counter()
    wanted = await RoundJobSource(world.db).desired_jobs(closing)
    assert f"round:{round_id}:close" in {job.id for job in wanted}, "the scheduler finishes it"
    assert await world.steps.close_due(closing + timedelta(minutes=1)) == []
    assert await world.steps.close_due(closing + timedelta(minutes=2)) == []
    summaries = messages(world.db, "summary")
    assert list(summaries.values()) == [1]


async def test_a_closing_round_cancels_its_pending_nudges_a_batch_a_transaction(
    world: World,
) -> None:
    """23 nudges waiting to be sent when the round closes, batches of 5: all cancelled, none
    sent, in five short writes before the close, whose own write cancels none."""
    batches(world.steps, 5)
    round_id = world.new_round(TEAMS[1], 0, 23)
    await world.steps.open_due(WEDNESDAY)
    give_everyone_a_chat(world.db, world.tenant)
    assert await world.steps.nudge_due(MONDAY) == 23
    with counting(world.db) as statements:
        assert await world.steps.close_due(WEDNESDAY + timedelta(days=15)) == [round_id]
    cancels = [s for s in statements.writes if s.lstrip().upper().startswith("UPDATE OUTBOX")]
    assert len(cancels) == 6, "five batches (5+5+5+5+3) and the close's own, which finds none"

    def statuses(session: Any) -> Counter[str]:
        rows = session.exec(select(OutboxMessage.status).where(OutboxMessage.kind == "nudge"))
        return Counter(rows.all())

    assert world.db.run_sync(statuses) == Counter({"cancelled": 23})


async def test_a_nudge_queued_after_the_closes_read_of_pending_nudges_is_cancelled_too(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The close cancels the pending nudges it read, a batch a transaction, then its own write
    cancels any queued since (a nudge tick in another process): none is left to send."""
    batches(world.steps, 5)
    round_id = world.new_round(TEAMS[1], 0, 12)
    await world.steps.open_due(WEDNESDAY)
    give_everyone_a_chat(world.db, world.tenant)
    assert await world.steps.nudge_due(MONDAY) == 12
    cancel_read_nudges = world.steps._cancel_nudges

    async def then_a_late_nudge(rid: int) -> int:
        after = await cancel_read_nudges(rid)
        late = Queued(
            dedupe_key=f"round:{rid}:nudge:late",
            kind="nudge",
            tenant_id=world.tenant,
            target=Target.conversation("a:late", "https://smba.example/"),
            activity_json='{"type":"message"}',
            round_id=rid,
        )
        world.db.run_sync(lambda s: enqueue_many(s, [late], now=MONDAY))
        return after

    monkeypatch.setattr(world.steps, "_cancel_nudges", then_a_late_nudge)
    assert await world.steps.close_due(WEDNESDAY + timedelta(days=15)) == [round_id]

    def statuses(session: Any) -> Counter[str]:
        rows = session.exec(select(OutboxMessage.status).where(OutboxMessage.kind == "nudge"))
        return Counter(rows.all())

    assert world.db.run_sync(statuses) == Counter({"cancelled": 13})


async def test_the_close_computes_results_outside_its_write_and_freezes_them_on_a_rerun(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The move to closed is a short write that reads no answers: the results are computed in
    a snapshot afterwards (nothing feeding them can change once closed) and stored in one short
    write. A close that dies before freezing them freezes them, once, on its next run."""
    round_id = world.new_round(TEAMS[1], 0, 7)
    await world.steps.open_due(WEDNESDAY)
    for n in range(6):
        identity = Identity(world.tenant, f"29:staff-{n}", None, f"Staff {n}")
        complete(world.db, identity, round_id, 3, WEDNESDAY)
    closing = WEDNESDAY + timedelta(days=15)
    with monkeypatch.context() as patch:
        # The results are computed in the service's worker process (store.process_reads): the
        # close dies as it asks for them
        assert world.steps.process_reads is not None
        crash_on_call(patch, world.steps.process_reads, "read", 1)
        with counting(world.db) as closed, pytest.raises(Crash):
            await world.steps.close_due(closing)
    assert world.db.run_sync(lambda s: s.get(Round, round_id).status) == "closed"
    assert not [q for q in closed.seen if "answers" in q.lower()], "the close read no answers"
    assert world.db.run_sync(lambda s: frozen_results(s, round_id)) is None
    await world.steps.close_due(closing + timedelta(minutes=1))
    results = world.db.run_sync(lambda s: frozen_results(s, round_id))
    assert results is not None
    assert results.team(results.teams[0].team_id).submitted == 6
    assert list(messages(world.db, "summary").values()) == [1]


async def test_choices_that_may_bring_a_nudge_forward_are_looked_at_by_the_next_tick(
    world: World,
) -> None:
    round_id = world.new_round(TEAMS[1], 0, 3)
    await world.steps.open_due(WEDNESDAY)

    def next_times(session: Any) -> list[datetime | None]:
        rows = session.exec(
            select(RoundParticipant.next_nudge_at)
            .where(RoundParticipant.round_id == round_id)
            .order_by(RoundParticipant.id)
        ).all()
        return list(rows)

    first = world.db.run_sync(next_times)
    assert first == [datetime(2026, 11, 30, 9, 0, tzinfo=UTC)] * 3, "the plan's first moment"
    people = world.db.run_sync(
        lambda s: s.exec(
            select(RoundParticipant.person_id).where(RoundParticipant.round_id == round_id)
        ).all()
    )
    for person_id in people:  # e.g. each chose new reminder times
        world.db.run_sync(lambda s, p=person_id: step_queries.look_again(s, THURSDAY, person_id=p))
    assert world.db.run_sync(next_times) == [THURSDAY] * 3
    assert await world.steps.nudge_due(THURSDAY) == 0
    assert world.db.run_sync(next_times) == first, "recomputed: the same Monday morning"
    complete(world.db, Identity(world.tenant, "29:staff-1", None, "Staff 1"), round_id, 3, THURSDAY)
    assert world.db.run_sync(next_times) == [first[0], None, first[2]], "submitted: no more"


async def test_a_later_close_marks_the_round_and_the_tick_gives_the_people_without_a_nudge_one(
    world: World,
) -> None:
    """An admin's extension writes the round's row, never a participant's (no one else's data
    changes on their press); the next tick gives a time only to those who had no nudge left and
    may still be nudged, and a nudge from the plan's moment the longer round now reaches."""
    spec = RoundSpec(
        "Winter 2026", (TEAMS[1],), WEDNESDAY, WEDNESDAY + timedelta(days=14), "3d,20d"
    )  # 20d (Tuesday 15 December) is after this close: the plan is only Monday's "3d"
    world.connector.conversations[TEAMS[1]].members = [member(n, world.tenant) for n in range(3)]
    round_id = world.db.run_sync(
        lambda s: create_round(s, spec, framework=FRAMEWORK, actor="t", now=WEDNESDAY).id
    )
    await world.steps.open_due(WEDNESDAY)
    give_everyone_a_chat(world.db, world.tenant)
    assert await world.steps.nudge_due(MONDAY) == 3
    complete(world.db, Identity(world.tenant, "29:staff-1", None, "Staff 1"), round_id, 3, MONDAY)

    def participants(session: Any) -> list[tuple[Any, ...]]:
        return [
            tuple(row)
            for row in session.execute(
                sa.select(RoundParticipant.__table__)  # type: ignore[attr-defined]
                .where(RoundParticipant.round_id == round_id)
                .order_by(RoundParticipant.id)
            ).all()
        ]

    def next_times(session: Any) -> list[datetime | None]:
        return list(
            session.exec(
                select(RoundParticipant.next_nudge_at)
                .where(RoundParticipant.round_id == round_id)
                .order_by(RoundParticipant.id)
            ).all()
        )

    assert world.db.run_sync(next_times) == [None] * 3, "the plan is spent"
    before = world.db.run_sync(participants)
    later = MONDAY + timedelta(hours=1)
    world.db.run_sync(
        lambda s: extend_round(
            s, round_id, WEDNESDAY + timedelta(days=28), actor="admin", now=later
        )
    )
    assert world.db.run_sync(participants) == before, "the extension wrote no one's row"
    marked = world.db.run_sync(lambda s: s.get(Round, round_id).nudge_recheck_at)
    assert marked == later

    assert await world.steps.nudge_due(later) == 0
    tuesday = datetime(2026, 12, 15, 10, 0, tzinfo=UTC)
    assert world.db.run_sync(next_times) == [tuesday, None, tuesday], "submitted: still none"
    assert world.db.run_sync(lambda s: s.get(Round, round_id).nudge_recheck_at) is None
    assert await world.steps.nudge_due(tuesday) == 2


async def test_answers_go_through_while_a_big_opening_and_tick_run(
    db: Database,
    settings_factory: Callable[..., Settings],
    connector: FakeConnector,
    http: Any,
) -> None:
    """Someone answers question after question through /api/messages while a round of 400
    opens and its first nudges are queued in batches: every answer is saved and answered with
    the next question ("database is locked" would be a 500 here)."""
    clock = Clock(WEDNESDAY)
    app = create_app(settings_factory(), db=db, clock=clock)
    runner, url = await serve(app)
    lead = TeamsUser(bot_url=url, connector=connector, session=http, name="Sam Lead")
    team = TEAMS[1]
    await lead.add_bot_to_team(team, "Large")
    connector.conversations[team].members = [member(n, lead.tenant_id) for n in range(400)]
    spec = RoundSpec("Winter 2026", (team,), WEDNESDAY, WEDNESDAY + timedelta(days=14), "3d")
    db.run_sync(lambda s: create_round(s, spec, framework=FRAMEWORK, actor="t", now=WEDNESDAY))
    steps = round_steps(app[CONTEXT_KEY])
    batches(steps, 40)
    nurse = TeamsUser(bot_url=url, connector=connector, session=http, name="Ana Nurse")
    nurse.tenant_id = lead.tenant_id
    await nurse.install()
    await nurse.press("Start")
    answered: list[int] = []

    async def answer_while(step: asyncio.Task[int]) -> None:
        while not step.done() and len(answered) < FRAMEWORK.question_count - 1:
            result = await nurse.press("Next", {"level": "3", "comment": ""})
            assert result.status == 200, result.body
            answered.append(result.status)
            question = len(answered) + 1
            assert card_text(nurse.last_card()[1]).startswith(
                f"Question {question} of {FRAMEWORK.question_count}"
            )

    opening = asyncio.create_task(steps.open_due(WEDNESDAY))
    await answer_while(opening)
    assert await opening == 1
    give_everyone_a_chat(db, lead.tenant_id)
    ticking = asyncio.create_task(steps.nudge_due(MONDAY))
    await answer_while(ticking)
    assert await ticking == 400
    assert answered, "answers went through while the steps ran"
    assert len(messages(db, "invitation")) == 400
    await runner.cleanup()
