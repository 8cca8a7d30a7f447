"""The scheduled steps of a round, each idempotent and safe to run late or twice:

    open_due(now)    rounds whose opening time has come: rosters, invitations (opening.py)
    close_due(now)   rounds whose closing time has come: the move to closed, pending nudges
                     cancelled and the next round of a repeating series scheduled in one short
                     transaction; then results (computed once, in a read snapshot), and a summary
                     per team channel (and to the improvement team) with its chart, built in the
                     worker process (summaries.py); the charts stored, then the summaries queued,
                     a few hundred kB a transaction, the last marking them queued
    nudge_due(now)   people whose stored next nudge time has come (rules.schedule), a batch per
                     short transaction
    repeat_due(now)  successors for repeating rounds that have none (after a resumed pause)

The scheduler (scheduler/) only wakes these up (jobs.py says when); tests call them with a
moved clock. Messages are drawn by `RoundMessages` (the composition root passes the cards).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from framework.content import Framework
from framework.reading import reading_minutes
from rounds.rules.nudges import NudgeState, next_nudge_at
from rounds.rules.preferences import NudgePreferences
from rounds.rules.schedule import NudgeWindow, ReminderPlan, resolve_zone
from rounds.rules.views import InvitationView
from rounds.rules.when import Period
from rounds.services.cards_drawn import drawn_once
from rounds.services.drawing import draw_team_charts
from rounds.services.evidence import QuestionEvidence
from rounds.services.opening import RoundOpener, nothing_to_wait_for
from rounds.services.parts import (
    WrittenBehind,
    batches_in_worker,
    write_behind,
    write_in_parts,
    write_part_for,
)
from rounds.services.ports import RoundMessages, RoundOptions
from rounds.services.summaries import (
    WRITE_BYTES,
    Summaries,
    in_batches_of_bytes,
    joined,
    keep_summaries_there,
    summary_inputs,
    take_summaries_piece,
    team_summaries,
)
from store.audit import audit
from store.db import Database
from store.outbox import Queued, Target, activity_json, enqueue_many
from store.people import Person
from store.process_reads import ProcessReads
from store.rounds import steps as queries
from store.rounds.charts import save_charts
from store.rounds.frozen import (
    Evidence,
    has_frozen_results,
    in_freezing_order,
    results_rows,
    save_results_part,
    save_results_rows,
)
from store.rounds.opening import personal_chats
from store.rounds.tables import NudgePreference, Round
from store.rounds.targets import nudge_target

log = logging.getLogger(__name__)


class RoundSteps:
    def __init__(
        self,
        db: Database,
        framework: Framework,
        options: RoundOptions,
        messages: RoundMessages,
        opener: RoundOpener,
        *,
        on_queued: Callable[[], None] = lambda: None,
        evidence: QuestionEvidence | None = None,
        batch: int | None = None,
        process_reads: ProcessReads | None = None,
        give_way: Callable[[], Awaitable[None]] = nothing_to_wait_for,
    ) -> None:
        self.db = db
        self.framework = framework
        self.options = options
        self.messages = messages
        self.opener = opener
        self.on_queued = on_queued
        self.evidence = evidence  # e.g. huddle records beside question 18
        # The close's results and the nudges' planning done in a worker process, off this
        # process's GIL (None: on a read thread here, e.g. an in-memory SQLite database no
        # other process can open). `messages` must then be picklable.
        self.process_reads = process_reads
        self.give_way = give_way  # before each batch: see RoundOpener
        # People per transaction: on SQLite well under 50 ms of its write lock; PostgreSQL has no
        # database-wide lock, so fewer, larger batches save round trips.
        self.batch = batch if batch is not None else (200 if db.is_sqlite else 1000)
        self.write_part = write_part_for(db)  # people per write transaction: see RoundOpener
        self.write_bytes = WRITE_BYTES  # the close's charts and summaries, a transaction
        self._minutes = reading_minutes(framework)

    async def run_due(self, now: datetime) -> None:
        await self.open_due(now)
        await self.close_due(now)
        await self.nudge_due(now)

    async def open_due(self, now: datetime) -> int:
        return len(await self.opener.open_due(now))

    # -- closing ---------------------------------------------------------------------------

    async def close_due(self, now: datetime) -> list[int]:
        """Close the rounds whose time has come (each a short compare-and-set transaction), then
        queue the summaries of every closed round that has none queued yet (including one whose
        close was interrupted): results computed once in a read snapshot, then the summaries
        with their charts (built in the worker process where there is one), stored and queued in
        short transactions (`_record_summaries`)."""
        closed = []
        for round_id in await self.db.run(lambda s: queries.due_to_close(s, now)):
            cancelled_up_to = await self._cancel_nudges(round_id)
            if await self.db.run(self._closer(round_id, now, cancelled_up_to)):
                closed.append(round_id)
                log.info("closed round %s", round_id)
        for round_id in await self.db.run(queries.summaries_to_queue):
            await self.queue_summaries(round_id, now)
        return closed

    async def _cancel_nudges(self, round_id: int) -> int:
        """Its time is up, so its pending nudges are pointless: read beside the writer, then
        cancelled by id a batch a transaction before the close (about 6,000 of them in the
        close's own write held SQLite's write lock for 80-110 ms at trust size, and finding them
        among the round's 30,000 other messages took 30 ms of it). The close cancels any a nudge
        tick queued meanwhile: on SQLite only those with a higher id than the read saw (the id
        returned; 0 on PostgreSQL, see `cancel_pending_nudges`)."""
        pending, highest = await self.db.read(
            functools.partial(queries.pending_nudges, round_id=round_id)
        )
        for start in range(0, len(pending), self.batch):
            await self.db.run(functools.partial(_cancel, pending[start : start + self.batch]))
        return highest if self.db.is_sqlite else 0

    def _closer(self, round_id: int, now: datetime, after: int) -> Callable[[Session], bool]:
        return lambda session: self.close_round(session, round_id, now, after=after)

    def close_round(
        self, session: Session, round_id: int, now: datetime, *, after: int = 0
    ) -> bool:
        """The move to `closed` (compare-and-set), pending nudges cancelled and the next round of
        a series scheduled, in the caller's transaction; the summaries follow
        (`queue_summaries`, which first freezes the results). False if another process closed it
        first, or it was cancelled."""
        round_ = queries.mark_closed(session, round_id, now)
        if round_ is None:
            return False
        queries.cancel_pending_nudges(session, round_id, after=after)
        self._schedule_repeat(session, round_, now)
        audit(
            session, actor="scheduler", action="round.closed", target=f"round:{round_id}", now=now
        )
        return True

    async def queue_summaries(self, round_id: int, now: datetime) -> int:
        """A closed round's summary per team channel (and to the improvement team), after its
        results are frozen: built in the worker process where there is one, else here."""
        started = time.perf_counter()
        await self.freeze_results(round_id, now)
        frozen = time.perf_counter()
        if self.process_reads is not None:
            summaries = await self._summaries_there(self.process_reads, round_id)
        else:
            summaries = await self._summaries_here(round_id)
        built = time.perf_counter()
        queued, writes = await self._record_summaries(round_id, summaries, now)
        read, drawn, cards = summaries.seconds
        log.info(
            "round %s: results frozen in %.2f s; summaries built %s in %.2f s (read %.2f s, %d "
            "charts drawn in %.2f s, cards %.2f s); %d queued in %.2f s, %d transactions",
            round_id,
            frozen - started,
            "in the worker process" if self.process_reads is not None else "here",
            built - frozen,
            read,
            len(summaries.images),
            drawn,
            cards,
            queued,
            time.perf_counter() - built,
            writes,
        )
        if queued:
            self.on_queued()
        return queued

    async def _record_summaries(
        self, round_id: int, summaries: Summaries, now: datetime
    ) -> tuple[int, int]:
        """Store the charts, then queue the summaries, each a few hundred kB a transaction (at
        trust size 299 charts and 600 cards in one write held SQLite's write lock 74 ms); the
        last transaction marks the summaries queued. The charts go first, so no card is sent
        before its image can be served. A close stopped half-way is finished by the next run:
        it draws the charts again under new tokens and queues only the summaries not yet
        queued (each has its own dedupe key); the first run's unused charts are deleted with the
        round. How many summaries were new, and in how many transactions."""
        writes = 0
        charts = list(summaries.images.items())
        for images in in_batches_of_bytes(charts, lambda chart: len(chart[1]), self.write_bytes):
            await self.give_way()
            await self.db.run(functools.partial(_store_charts, dict(images), now, round_id))
            writes += 1
        cards = in_batches_of_bytes(
            summaries.messages, lambda m: len(m.activity_json), self.write_bytes
        )
        *earlier, last = cards or [[]]
        queued = 0
        for messages in earlier:
            await self.give_way()
            queued += await self.db.run(functools.partial(_queue, messages, now))
            writes += 1
        await self.give_way()
        queued += await self.db.run(
            lambda session: queries.record_summaries(session, round_id, last, now)
        )
        return queued, writes + 1

    async def _summaries_there(self, worker: ProcessReads, round_id: int) -> Summaries:
        """The summaries built in the worker process: reading the frozen results back and
        parsing them, the charts' Python and every card (a few ms a team) would hold this
        process's GIL, and each answer's GIL hand-over would wait for them. Only the messages
        and the PNGs come back, a piece of at most `write_bytes` at a time, each unpickled
        here in about a millisecond, the loop free between them."""
        kept = await worker.read(
            functools.partial(
                keep_summaries_there,
                round_id,
                self.framework,
                self.options,
                self.messages,
                self.write_bytes,
            )
        )
        pieces: list[Summaries] = []
        for _ in range(kept.pieces):
            pieces.append(await worker.call(take_summaries_piece, kept.key))
        return joined(pieces, kept.seconds)

    async def _summaries_here(self, round_id: int) -> Summaries:
        """The summaries built in this process (no worker process: an in-memory SQLite
        database), from the same inputs and with the same `team_summaries` as the worker's."""
        started = time.perf_counter()
        inputs = await self.db.read(
            functools.partial(summary_inputs, round_id, self.options.improvement_team_id)
        )
        read = time.perf_counter()
        charted = inputs.charted(self.options)
        charts = await draw_team_charts(inputs.results, charted, self.framework)
        drawn = time.perf_counter()
        messages: list[Queued] = []
        images: dict[str, bytes] = {}
        for team in inputs.teams:  # a few ms a team: the loop serves turns between teams (300 at
            # once blocked it for 100-150 ms at trust size)
            messages.extend(
                team_summaries(
                    inputs,
                    team,
                    charts.get(team.id) if team.id is not None else None,
                    images,
                    framework=self.framework,
                    options=self.options,
                    messages=self.messages,
                )
            )
            await asyncio.sleep(0)
        return Summaries(
            messages, images, (read - started, drawn - read, time.perf_counter() - drawn)
        )

    async def freeze_results(self, round_id: int, now: datetime) -> None:
        """Compute the closed round's results once and freeze them: the summaries and every later
        view and export read them. Once the round is closed nothing that feeds them can change
        (answers, roles and rosters refuse), so they are computed in a snapshot beside the
        writer and stored after (on PostgreSQL in one write; on SQLite in parts of a few
        hundred kB, the round's own row, which marks them frozen, last), never holding SQLite's
        write lock for the computation. Idempotent: a close that stopped half-way freezes them
        on its next run."""
        if await self.db.read(lambda s: has_frozen_results(s, round_id)):
            return
        compute = functools.partial(
            frozen_rows,
            round_id,
            self.framework,
            self.options.min_group,
            self.options.min_comment_group,
            self.evidence,
            now.astimezone(self.options.zone).date(),
        )
        if self.process_reads is not None:
            rows = await self.process_reads.read(compute)
        else:
            rows = await self.db.read(compute)
        if self.db.is_sqlite:
            await self._freeze_in_parts(round_id, rows, now)
        else:  # no database-wide lock: one transaction, which another process's freeze waits for
            await self.db.run(lambda s: save_results_rows(s, round_id, rows, now))

    async def _freeze_in_parts(self, round_id: int, rows: dict[str, str], now: datetime) -> None:
        """SQLite: the rows a few hundred kB a transaction, the round's own row last
        (`save_results_part`); stops if another freeze finished first."""
        ordered = in_freezing_order(rows)
        parts = in_batches_of_bytes(ordered, lambda row: len(row[1]), self.write_bytes)
        for number, part in enumerate(parts):
            await self.give_way()
            save = functools.partial(
                save_results_part, round_id=round_id, part=part, now=now, first=number == 0
            )
            if not await self.db.run(save):
                return

    # -- repeating -------------------------------------------------------------------------

    def _schedule_repeat(self, session: Session, round_: Round, now: datetime) -> bool:
        if not round_.repeat_every or round_.repeat_paused:
            return False
        period = Period.parse(round_.repeat_every)
        opens_at = period.after(round_.opens_at, self.options.zone)
        while opens_at <= now:  # a long outage: the next occurrence still to come
            opens_at = period.after(opens_at, self.options.zone)
        following = queries.add_successor(session, round_, opens_at, now)
        if following is None:
            return False  # another leader scheduled it
        audit(
            session,
            actor="scheduler",
            action="round.repeat",
            target=f"round:{following.id}",
            detail={"previous": round_.id, "opens_at": opens_at},
            now=now,
        )
        return True

    async def repeat_due(self, now: datetime) -> int:
        """Successors for closed repeating rounds that have none (closing normally schedules it;
        this covers a repetition resumed after a pause)."""
        return await self.db.run(lambda s: self.schedule_missing_repeats(s, now))

    def schedule_missing_repeats(self, session: Session, now: datetime) -> int:
        return sum(
            self._schedule_repeat(session, round_, now)
            for round_ in queries.waiting_for_successor(session)
        )

    # -- nudging ---------------------------------------------------------------------------

    async def nudge_due(self, now: datetime) -> int:
        """Queue the nudges due now, a batch of people at a time. On PostgreSQL with a worker
        process, each batch is decided and recorded there (`_nudge_there`). Otherwise it is
        decided from a read (in the worker process if there is one, else on a read thread
        here; on SQLite a snapshot beside the writer) while the batch before is recorded here
        in short transactions: SQLite has one writer, the service's, where a turn's write goes
        first. Also finishes an opening interrupted before every invitation was queued (it
        runs every minute while a round is open). With nobody due, it is three indexed reads
        here and no transaction that writes (on SQLite, not even the write lock): the worker is
        asked only when someone is."""
        await self.opener.invite_waiting(now)
        await self._recheck_marked_rounds(now)
        if self.process_reads is not None:
            self.process_reads.start_soon()  # the first tick that finds people due won't wait
            if not await self.db.read(functools.partial(queries.anyone_due, now=now)):
                return 0
        if self.process_reads is not None and not self.db.is_sqlite:
            return await self._nudge_there(self.process_reads, now)
        queued, after = 0, None
        writing: asyncio.Future[int] | None = None
        try:
            while True:
                await self.give_way()
                outcomes = await self.plan_batch(now, after)
                queued, writing = queued + await self._recorded(writing), None
                if not outcomes:
                    return queued
                after = queries.position_of(outcomes[-1])  # the next read starts after it
                writing = asyncio.ensure_future(
                    write_in_parts(
                        self.db, outcomes, self.write_part, _nudge_recorder(now), self.give_way
                    )
                )
                if len(outcomes) < self.batch:
                    return queued + await self._recorded(writing)
        finally:
            if writing is not None and not writing.done():  # a read failed: the write ends first
                await asyncio.wait([writing])

    async def _nudge_there(self, worker: ProcessReads, now: datetime) -> int:
        """PostgreSQL: each batch decided and recorded in the worker process
        (`plan_and_record_nudges`), this process only waiting for it. Recorded here, the
        batch's writes (SQLAlchemy, psycopg and JSON: about 0.3 of a core during a due tick)
        held this process's GIL, and every answer meanwhile waited at each of its hand-overs:
        answers during the due ticks took 20-24 ms at the median against 11 idle, and 12 since
        (benchmarks/trust_scale.py, 30 November)."""
        planner, tick = self.nudge_planner(), uuid.uuid4().hex

        def batch(
            after: queries.Position | None,
        ) -> Callable[[Database], WrittenBehind[queries.Position]]:
            return functools.partial(
                plan_and_record_nudges, planner, now, after, self.write_part, tick
            )

        return await batches_in_worker(worker, batch, self.batch, self.give_way, self.on_queued)

    async def plan_batch(
        self, now: datetime, after: queries.Position | None
    ) -> list[queries.NudgeOutcome]:
        """The next batch's decisions (`plan_nudge_batch`): in the worker process if there is
        one (about 28 ms of Python a batch of 200, which on a read thread here made every answer
        meanwhile wait at each of its GIL hand-overs), else on a read thread here."""
        plan = functools.partial(plan_nudge_batch, self.nudge_planner(), now, after)
        if self.process_reads is not None:
            return await self.process_reads.read(plan)
        return await self.db.read(plan)

    def nudge_planner(self) -> NudgePlanner:
        return NudgePlanner(
            zone_key=self.options.zone.key,
            batch=self.batch,
            question_count=self.framework.question_count,
            minutes=self._minutes,
            messages=self.messages,
        )

    async def _recheck_marked_rounds(self, now: datetime) -> None:
        """Rounds that now close later: their people with no nudge time left are given one to be
        looked at from now, a batch a transaction; the mark is cleared last (resumable)."""
        for round_id, seen in await self.db.read(queries.rounds_to_recheck):

            def look_again(session: Session, round_id: int = round_id) -> int:
                return queries.look_again_at_people_without_a_time(
                    session, round_id, now, self.batch
                )

            while await self.db.run(look_again) == self.batch:
                pass
            await self.db.run(functools.partial(queries.recheck_done, round_id=round_id, seen=seen))

    async def _recorded(self, writing: asyncio.Future[int] | None) -> int:
        count = 0 if writing is None else await writing
        if count:
            self.on_queued()
        return count

    def queue_nudges(self, session: Session, now: datetime) -> tuple[int, int]:
        """One batch in one transaction (`plan_nudges` then `record_nudges`): (nudges queued,
        people looked at). Asked again at the same moment, it queues nothing."""
        outcomes = self.plan_nudges(session, now)
        return queries.record_nudges(session, outcomes, now), len(outcomes)

    def plan_nudges(
        self, session: Session, now: datetime, *, after: queries.Position | None = None
    ) -> list[queries.NudgeOutcome]:
        """The next batch's decisions, in `session` (see `plan_nudge_batch`)."""
        return plan_nudge_batch(self.nudge_planner(), now, after, session)


NO_CHAT_RETRY = timedelta(minutes=15)


@dataclass(frozen=True)
class NudgePlanner:
    """What deciding a batch of nudges needs, and nothing that cannot be pickled: it is sent
    to the service's worker process (store.process_reads) with each batch. Equal planners (in
    the worker, one unpickled per batch) share the nudge cards already drawn (`_NUDGE_CARDS`)."""

    zone_key: str  # the zone of people whose Teams zone is unknown
    batch: int
    question_count: int
    minutes: tuple[int, int]  # reading time, fewest and most
    messages: RoundMessages  # draws the card: picklable, equal by value (bot's RoundCards)


def _nudge_recorder(
    now: datetime,
) -> Callable[[Sequence[queries.NudgeOutcome]], Callable[[Session], int]]:
    return lambda part: functools.partial(queries.record_nudges, outcomes=part, now=now)


def _store_charts(images: dict[str, bytes], now: datetime, round_id: int, session: Session) -> int:
    return save_charts(session, images, now, round_id=round_id)


def _cancel(nudges: list[int], session: Session) -> int:
    return queries.cancel_nudges(session, nudges)


def _queue(messages: list[Queued], now: datetime, session: Session) -> int:
    return enqueue_many(session, messages, now=now)


def plan_and_record_nudges(
    planner: NudgePlanner,
    now: datetime,
    after: queries.Position | None,
    part: int,
    tick: str,
    database: Database,
) -> WrittenBehind[queries.Position]:
    """What a due tick's worker process does with each batch on PostgreSQL: the next batch
    decided (`plan_nudge_batch`, in a read snapshot) while the tick's batch before it is still
    being recorded (`write_behind`, `part` people a transaction), except the last batch's
    (fewer people than a batch), recorded before returning. Picklable with its arguments but
    the last, the worker's own database (two connections: one reads while the other writes)."""
    outcomes = database.read_sync(functools.partial(plan_nudge_batch, planner, now, after))
    last = len(outcomes) < planner.batch
    queued = write_behind(tick, database, outcomes, part, _nudge_recorder(now), last=last)
    position = queries.position_of(outcomes[-1]) if outcomes else after
    return WrittenBehind(queued, len(outcomes), position)


def plan_nudge_batch(
    planner: NudgePlanner, now: datetime, after: queries.Position | None, session: Session
) -> list[queries.NudgeOutcome]:
    """What to do for the next batch of people whose next nudge time has come (after `after`,
    in the order of the index; one indexed query, nothing else when nobody is due): five
    queries whatever the batch's size, and writes nothing. Picklable with its arguments."""
    candidates = queries.nudge_candidates(session, now, planner.batch, after=after)
    if not candidates:
        return []
    rounds = queries.rounds_by_id(session, {c.round_id for c in candidates})
    person_ids = [c.person_id for c in candidates]
    preferences = queries.preferences_rows(session, person_ids)
    chats = personal_chats(session, person_ids)
    names = queries.team_names_of(session, [c.participant_id for c in candidates])

    def target_of(candidate: queries.NudgeCandidate) -> Callable[[], Target | None]:
        """Their chat; else (their invitation failed, or left no chat) one through their
        team, from store.rounds.targets: a few queries, for those few people only."""

        def find() -> Target | None:
            chat = chats.get(candidate.person_id)
            if chat is not None:
                return Target.conversation(chat.conversation_id, chat.service_url)
            person = session.get(Person, candidate.person_id)
            if person is None:
                return None
            return nudge_target(session, person, candidate.participant_id, candidate.round_id)

        return find

    return [
        _decide(
            planner,
            rounds[c.round_id],
            c,
            preferences.get(c.person_id),
            target_of(c),
            names.get(c.participant_id, ()),
            now,
        )
        for c in candidates
    ]


def _decide(
    planner: NudgePlanner,
    round_: Round,
    candidate: queries.NudgeCandidate,
    stored: NudgePreference | None,
    target_of: Callable[[], Target | None],
    team_names: tuple[str, ...],
    now: datetime,
) -> queries.NudgeOutcome:
    assert round_.id is not None
    zone = resolve_zone(candidate.time_zone, planner.zone_key)
    window = _window(stored, zone)
    state = NudgeState(
        nudges_sent=candidate.nudges_sent,
        last_nudged_at=candidate.last_nudged_at,
        snoozed_until=candidate.snoozed_until,
        opted_out=candidate.opted_out,
        submitted=candidate.submitted,
        away_until=stored.away_until if stored is not None else None,
    )
    moments = _plan_moments(round_.reminder_plan, round_.opens_at, round_.closes_at, zone)
    due = next_nudge_at(
        now, plan_moments=moments, state=state, window=window, closes_at=round_.closes_at
    )
    unchanged = queries.NudgeOutcome(
        participant_id=candidate.participant_id,
        was_next=candidate.next_nudge_at,
        nudges_sent=candidate.nudges_sent,
        last_nudged_at=candidate.last_nudged_at,
        next_nudge_at=due,
        message=None,
    )
    if due is None or due > now:
        return unchanged
    target = target_of()
    if target is None:
        # Their invitation, still to be sent, creates the chat: look again soon.
        return replace(unchanged, next_nudge_at=now + NO_CHAT_RETRY)
    number = candidate.nudges_sent + 1
    after = next_nudge_at(
        now,
        plan_moments=moments,
        state=state.nudged(now),
        window=window,
        closes_at=round_.closes_at,
    )
    message = Queued(
        dedupe_key=f"round:{round_.id}:nudge:person:{candidate.person_id}:{number}",
        kind="nudge",
        tenant_id=candidate.tenant_id,
        target=target,
        activity_json=_nudge_json(planner, round_, team_names, zone),
        person_id=candidate.person_id,
        round_id=round_.id,
    )
    return replace(
        unchanged, nudges_sent=number, last_nudged_at=now, next_nudge_at=after, message=message
    )


_NudgeCardKey = tuple[RoundMessages, int, tuple[int, int], int, str, str, tuple[str, ...]]
# Nudge cards drawn, in this process (the service's, or the worker's for its life).
_NUDGE_CARDS: dict[_NudgeCardKey, str] = {}


def _nudge_json(
    planner: NudgePlanner, round_: Round, team_names: tuple[str, ...], zone: ZoneInfo
) -> str:
    """The nudge card, drawn and serialised once per round, set of teams and closing day."""
    assert round_.id is not None
    closes_on = f"{round_.closes_at.astimezone(zone):%A %-d %B}"
    key = (
        planner.messages,
        planner.question_count,
        planner.minutes,
        round_.id,
        round_.name,
        closes_on,
        team_names,
    )
    round_id, round_name = round_.id, round_.name

    def draw() -> str:
        view = InvitationView(
            round_id=round_id,
            round_name=round_name,
            team_names=team_names,
            closes_on=closes_on,
            question_count=planner.question_count,
            minutes=planner.minutes,
            nudge=True,
        )
        return activity_json(planner.messages.invitation(view))

    return drawn_once(_NUDGE_CARDS, key, draw)


def frozen_rows(
    round_id: int,
    framework: Framework,
    min_group: int,
    min_comment_group: int,
    evidence: QuestionEvidence | None,
    today: date,
    session: Session,
) -> dict[str, str]:
    """A closed round's results as the rows they are frozen as, with the evidence beside each
    team's as of `today`: a read, picklable with its arguments (it runs in a worker process)."""
    return results_rows(
        session,
        round_id,
        framework=framework,
        min_group=min_group,
        min_comment_group=min_comment_group,
        evidence=_evidence_at(session, evidence, today),
    )


def _evidence_at(
    session: Session, evidence: QuestionEvidence | None, today: date
) -> Evidence | None:
    if evidence is None:
        return None
    return lambda team_id: evidence(session, team_id, today)


@functools.lru_cache(maxsize=1024)
def _plan_moments(
    plan: str, opens_at: datetime, closes_at: datetime, zone: ZoneInfo
) -> tuple[datetime, ...]:
    return tuple(ReminderPlan.parse(plan).moments(opens_at, closes_at, zone))


@functools.lru_cache(maxsize=4096)
def _window_of(days: str, start: int, end: int, zone: ZoneInfo) -> NudgeWindow:
    return NudgePreferences.from_row(days, start, end, None).window(zone)


def _window(stored: NudgePreference | None, zone: ZoneInfo) -> NudgeWindow:
    if stored is None:
        return _window_of(DEFAULT_ROW[0], DEFAULT_ROW[1], DEFAULT_ROW[2], zone)
    return _window_of(stored.days, stored.window_start_minute, stored.window_end_minute, zone)


DEFAULT_ROW = NudgePreferences.default().to_row()
