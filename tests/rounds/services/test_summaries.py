"""A closed round's summaries are the same whether the close builds them in its worker process
(store.process_reads, the service's way on a database another process can open) or in the
service itself (an in-memory SQLite database): same messages to the same channels, same cards
but for each chart's random token, same charts; on a file SQLite database and on PostgreSQL.
The worker sends them back a piece of at most a write's bytes at a time, and keeps nothing
once they are all taken."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from bot.config import Settings
from framework.identity import Identity
from impact.features.rounds import round_steps
from impact.service import CONTEXT_KEY, create_app
from rounds.services import steps as step_service
from rounds.services import summaries as summaries_module
from rounds.services.steps import RoundSteps
from rounds.services.summaries import (
    Summaries,
    in_batches_of_bytes,
    in_pieces,
    joined,
    take_summaries_piece,
)
from store.db import Database
from store.outbox import OutboxMessage, Target
from store.outbox import Queued as QueuedMessage
from store.rounds.charts import ChartImage
from store.rounds.frozen import FrozenResult, frozen_results
from store.rounds.lifecycle import RoundSpec, create_round
from store.rounds.tables import Round, RoundTeam
from tests.conftest import Clock, serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser
from tests.rounds.services.test_opening import member
from tests.rounds.services.test_steps import FRAMEWORK, complete
from tests.rounds.services.test_steps_at_scale import Crash, counting, crash_on_call

pytestmark = pytest.mark.service

WARD = "19:ward7@thread.tacv2"
THEATRES = "19:theatres@thread.tacv2"
IMPROVEMENT = "19:improvement@thread.tacv2"
CHART_URL = re.compile(r"https://impact\.example\.nhs\.uk/charts/[A-Za-z0-9_-]+\.png")


def evidence(session: Session, team_id: int, today: date) -> list[tuple[int, str]]:
    """Evidence beside question 18 (module level: the worker process unpickles it by name)."""
    return [(18, f"Held 2 of 3 huddles, team {team_id}, {today:%d %B}")]


Queued = dict[str, tuple[str, Any]]  # dedupe key -> (target, card with its chart URL masked)


def queued_summaries(db: Database, round_id: int) -> tuple[Queued, list[bytes], list[str]]:
    """The round's queued summaries, its stored charts (sorted), and the chart URLs the cards
    show (in dedupe-key order)."""

    def read(session: Session) -> tuple[Queued, list[bytes], list[str]]:
        rows = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "summary", OutboxMessage.round_id == round_id)
            .order_by(OutboxMessage.dedupe_key)
        ).all()
        found: Queued = {}
        urls: list[str] = []
        for row in rows:
            payload = json.loads(row.payload)
            activity = json.dumps(payload["activity"], sort_keys=True)
            urls.extend(CHART_URL.findall(activity))
            found[row.dedupe_key] = (
                json.dumps(payload["target"], sort_keys=True),
                json.loads(CHART_URL.sub("CHART", activity)),
            )
        charts = session.exec(select(ChartImage).where(ChartImage.round_id == round_id)).all()
        return found, sorted(c.png for c in charts), urls

    return db.run_sync(read)


def unqueue_summaries(db: Database, round_id: int) -> None:
    """As if the close had stopped after freezing the results: no summaries, no charts."""

    def undo(session: Session) -> None:
        session.execute(sa.delete(OutboxMessage).where(col(OutboxMessage.kind) == "summary"))
        session.execute(sa.delete(ChartImage).where(col(ChartImage.round_id) == round_id))
        session.execute(
            sa.update(Round).where(col(Round.id) == round_id).values(summaries_queued_at=None)
        )

    db.run_sync(undo)


def round_team_ids(db: Database, round_id: int) -> list[str]:
    return db.run_sync(
        lambda s: [
            str(t) for t in s.exec(select(RoundTeam.team_id).where(RoundTeam.round_id == round_id))
        ]
    )


@pytest.fixture
async def steps(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: Any,
) -> Any:
    settings = settings_factory(
        public_url="https://impact.example.nhs.uk", improvement_team_id=IMPROVEMENT
    )
    app = create_app(settings, db=db, clock=clock)
    runner, url = await serve(app)
    lead = TeamsUser(bot_url=url, connector=connector, session=http, name="Sam Lead")
    for team, name, people in ((WARD, "Ward 7", 7), (THEATRES, "Theatres", 4)):
        await lead.add_bot_to_team(team, name)
        connector.conversations[team].members = [
            member(n, lead.tenant_id) for n in range(people * 10, people * 10 + people)
        ]
    await lead.add_bot_to_team(IMPROVEMENT, "Improvement")
    built = round_steps(app[CONTEXT_KEY])
    assert built.process_reads is not None, "a database another process can open"
    steps = RoundSteps(
        db,
        built.framework,
        built.options,
        built.messages,
        built.opener,
        evidence=evidence,
        process_reads=built.process_reads,
    )
    yield steps, lead
    await runner.cleanup()


async def answered_round(db: Database, clock: Clock, lead: TeamsUser, jobs: RoundSteps) -> int:
    """A round of Ward 7 (6 of 7 answered: shown, charted) and Theatres (1 of 4: hidden),
    opened and answered; the clock at its closing time."""
    spec = RoundSpec(
        "Winter 2026", (WARD, THEATRES), clock.now, clock.now + timedelta(days=7), "3d"
    )
    round_id = db.run_sync(
        lambda s: create_round(s, spec, framework=FRAMEWORK, actor="t", now=clock.now).id
    )
    assert round_id is not None
    await jobs.open_due(clock.now)
    for n, level in zip(range(70, 76), (1, 2, 3, 3, 4, 5), strict=True):  # 6 of Ward 7's 7
        complete(
            db, Identity(lead.tenant_id, f"29:staff-{n}", None, ""), round_id, level, clock.now
        )
    complete(db, Identity(lead.tenant_id, "29:staff-40", None, ""), round_id, 4, clock.now)
    clock.now += timedelta(days=8)
    return round_id


async def test_the_worker_and_the_service_queue_the_same_summaries(
    steps: Any, db: Database, clock: Clock
) -> None:
    jobs, lead = steps
    round_id = await answered_round(db, clock, lead, jobs)

    assert await jobs.close_due(clock.now) == [round_id]  # in the worker process
    there, there_charts, there_urls = queued_summaries(db, round_id)
    unqueue_summaries(db, round_id)
    jobs.process_reads = None
    assert await jobs.queue_summaries(round_id, clock.now) == 4  # here
    here, here_charts, here_urls = queued_summaries(db, round_id)

    assert sorted(there) == [
        f"round:{round_id}:summary:team:{team}{copy}"
        for team in sorted(round_team_ids(db, round_id))
        for copy in ("", ":improvement")
    ]
    assert here == there
    assert len(there_charts) == 1, "Ward 7's chart; Theatres' results are hidden (1 of 4)"
    assert here_charts == there_charts
    assert len(there_urls) == len(here_urls) == 2, "Ward 7's card, to it and to improvement"
    assert set(there_urls).isdisjoint(here_urls), "each close stores its charts under new tokens"
    text = json.dumps(list(here.values()))
    assert "Held 2 of 3 huddles" in text, "the frozen evidence is on the cards"
    assert "Not enough responses" in text, "Theatres' card says its results are hidden"


def written(statements: list[str]) -> list[str]:
    """The close's writes, by table: "charts", "outbox" or "mark" (summaries marked queued)."""
    kinds = []
    for statement in statements:
        text = " ".join(statement.split()).upper()
        if text.startswith("INSERT INTO CHART_IMAGES"):
            kinds.append("charts")
        elif text.startswith("INSERT INTO OUTBOX"):
            kinds.append("outbox")
        elif text.startswith("UPDATE ROUNDS SET SUMMARIES_QUEUED_AT"):
            kinds.append("mark")
    return kinds


async def test_the_close_stores_its_charts_then_queues_its_summaries_in_short_writes(
    steps: Any, db: Database, clock: Clock
) -> None:
    """At most `write_bytes` a transaction (here: one chart or card each), the charts before
    any card that shows them, and the mark with the last card."""
    jobs, lead = steps
    jobs.write_bytes = 1
    round_id = await answered_round(db, clock, lead, jobs)
    with counting(db) as statements:
        assert await jobs.close_due(clock.now) == [round_id]
    assert written(statements.seen) == ["charts", "outbox", "outbox", "outbox", "outbox", "mark"]
    found, charts, urls = queued_summaries(db, round_id)
    assert len(found) == 4
    assert len(charts) == 1
    assert stored_tokens(db) >= {url.rsplit("/", 1)[1].removesuffix(".png") for url in urls}


async def close_dying_at_second(
    jobs: RoundSteps, clock: Clock, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A close that dies at its second call of `rounds.services.steps.<name>`."""
    with monkeypatch.context() as patch:
        crash_on_call(patch, step_service, name, 2)
        with pytest.raises(Crash):
            await jobs.close_due(clock.now)


async def test_a_close_that_dies_between_its_writes_queues_each_summary_once_when_run_again(
    steps: Any, db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It died after its chart and one summary: the next run queues the other three, once, and
    every card's chart can be served (the first run's chart stays for the card it queued)."""
    jobs, lead = steps
    jobs.write_bytes = 1
    round_id = await answered_round(db, clock, lead, jobs)
    await close_dying_at_second(jobs, clock, monkeypatch, "_queue")
    assert len(queued_summaries(db, round_id)[0]) == 1
    assert await jobs.close_due(clock.now + timedelta(minutes=1)) == []
    found, _, urls = queued_summaries(db, round_id)
    assert sorted(found) == [
        f"round:{round_id}:summary:team:{team}{copy}"
        for team in sorted(round_team_ids(db, round_id))
        for copy in ("", ":improvement")
    ]
    assert len(urls) == 2
    assert stored_tokens(db) >= {url.rsplit("/", 1)[1].removesuffix(".png") for url in urls}
    assert db.run_sync(lambda s: s.get(Round, round_id).summaries_queued_at) is not None


async def test_on_sqlite_the_close_freezes_its_results_in_parts_and_a_half_freeze_counts_not(
    steps: Any, db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite, `write_bytes` 1: the results frozen a row a transaction (a trust's in one held
    the write lock up to 54 ms), the round's own row last. A close that died after the first
    part left a round that nothing reads as frozen; the next run freezes every row again and
    queues the summaries."""
    if not db.is_sqlite:
        pytest.skip("PostgreSQL freezes in one transaction: no database-wide lock to share")
    jobs, lead = steps
    jobs.write_bytes = 1
    round_id = await answered_round(db, clock, lead, jobs)
    await close_dying_at_second(jobs, clock, monkeypatch, "save_results_part")
    assert db.run_sync(lambda s: frozen_results(s, round_id)) is None
    assert db.run_sync(lambda s: frozen_scopes(s, round_id)) != []
    with counting(db) as statements:
        assert await jobs.close_due(clock.now + timedelta(minutes=1)) == []
    scopes = db.run_sync(lambda s: frozen_scopes(s, round_id))
    inserts = [t for t in statements.seen if "INSERT INTO round_results_frozen" in t]
    assert len(inserts) == len(scopes) > 3, "a row a transaction"
    assert db.run_sync(lambda s: frozen_results(s, round_id)) is not None
    assert len(queued_summaries(db, round_id)[0]) == 4


def frozen_scopes(session: Session, round_id: int) -> list[str]:
    return list(session.exec(select(FrozenResult.scope).where(FrozenResult.round_id == round_id)))


def builds_kept_in_the_worker() -> list[str]:
    """Run in the worker process: the keys of the summaries it still keeps."""
    return list(summaries_module._kept)


async def test_the_worker_sends_its_summaries_back_a_piece_at_a_time_and_keeps_none(
    steps: Any, db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each piece at most `write_bytes` (here: one chart or card each): at trust size the whole,
    about 20 MB in one pickle, stopped the service's event loop while it was unpickled."""
    jobs, lead = steps
    jobs.write_bytes = 1
    round_id = await answered_round(db, clock, lead, jobs)
    worker = jobs.process_reads
    pieces: list[Summaries] = []
    call = worker.call

    async def taking(work: Callable[..., Any], *args: object) -> Any:
        result = await call(work, *args)
        if work is take_summaries_piece:
            pieces.append(result)
        return result

    monkeypatch.setattr(worker, "call", taking)
    assert await jobs.close_due(clock.now) == [round_id]

    assert [(len(p.images), len(p.messages)) for p in pieces] == [(1, 0)] + [(0, 1)] * 4
    assert len(queued_summaries(db, round_id)[0]) == 4
    assert await call(builds_kept_in_the_worker) == []
    with pytest.raises(LookupError, match="not kept in the worker process"):
        await call(take_summaries_piece, f"round:{round_id}:gone")


def test_summaries_cut_in_pieces_are_whole_again_when_joined() -> None:
    target = Target.conversation("19:a", "https://smba.example/")
    messages = [
        QueuedMessage(f"k{n}", "summary", "t", target, "x" * (n * 7 % 30)) for n in range(12)
    ]
    images = {f"token{n}": bytes(n * 5 % 40) for n in range(9)}
    whole = Summaries(messages, images, (0.1, 0.2, 0.3))
    for limit in (1, 20, 50, 10_000):
        pieces = in_pieces(whole, limit)
        assert joined(pieces, whole.seconds) == whole
        assert list(joined(pieces, whole.seconds).images) == list(images), "in order"
        assert all(bool(p.images) != bool(p.messages) for p in pieces), "charts, then cards"
    assert len(in_pieces(whole, 10_000)) == 2
    assert in_pieces(Summaries(), 100) == []


def test_builds_are_taken_by_their_own_key_and_only_the_latest_few_are_kept() -> None:
    """Two leaders closing one round at once each take their own pieces; a close that stopped
    taking its pieces leaves them for at most `KEPT_AT_MOST` later builds."""
    first, second = Summaries(images={"a": b"1"}), Summaries(images={"b": b"2"})
    summaries_module.keep("x:1", [first, second])
    summaries_module.keep("x:2", [second])
    assert take_summaries_piece("x:2") == second
    assert take_summaries_piece("x:1") == first
    for n in range(summaries_module.KEPT_AT_MOST):
        summaries_module.keep(f"y:{n}", [first])
    assert "x:1" not in summaries_module._kept, "the oldest dropped"
    with pytest.raises(LookupError):
        take_summaries_piece("x:1")
    for n in range(summaries_module.KEPT_AT_MOST):
        assert take_summaries_piece(f"y:{n}") == first
    assert not summaries_module._kept


def stored_tokens(db: Database) -> set[str]:
    return set(db.run_sync(lambda s: s.exec(select(ChartImage.token)).all()))


@given(
    st.lists(st.integers(min_value=0, max_value=40), max_size=30),
    st.integers(min_value=1, max_value=60),
)
def test_batches_of_bytes_keep_every_item_in_order_within_the_limit(
    sizes: list[int], limit: int
) -> None:
    batches = in_batches_of_bytes(list(enumerate(sizes)), lambda item: item[1], limit)
    assert [item for batch in batches for item in batch] == list(enumerate(sizes))
    assert all(batch for batch in batches)
    for batch in batches:
        assert len(batch) == 1 or sum(size for _, size in batch) <= limit
    for batch, following in itertools.pairwise(batches):
        assert sum(size for _, size in batch) + following[0][1] > limit, "no batch cut early"
