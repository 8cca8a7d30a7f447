"""Opening due rounds: read each team's roster from Teams, then freeze it and queue the
invitations in batches of short transactions (store.rounds.opening). Runs on the scheduler's
leader.

Each batch of invitations is read and drawn (`draw_invitations`: who is still to invite, and
their messages) in the worker process of store.process_reads when the service has one, while
the batch before is written: 23-91 ms of Python a batch on a read thread of the service made
every answer arriving meanwhile wait for the GIL at each of its hand-overs (issue 13). On
SQLite the batch before is written here, by the service's one writer, where a turn's write goes
first; on PostgreSQL it is written in the worker too (`draw_and_record_invitations`), for the
same reason. Without a worker (an in-memory SQLite database) the same function runs on a read
thread here.

The invitations are queued only so far ahead of the sender (`Lead`): the sender sends at Teams'
limits (15,000 invitations take minutes), so queuing them all in the first seconds gained
nothing and took the cores from every answer meanwhile (issue 13: on PostgreSQL the 15,000 were
queued in 9 s, while answers waited for a core).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import pickle
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from framework.content import Framework
from framework.identity import TeamMember
from framework.reading import reading_minutes
from rounds.rules.schedule import ReminderPlan, resolve_zone
from rounds.rules.views import InvitationView
from rounds.services.cards_drawn import drawn_once
from rounds.services.parts import (
    WrittenBehind,
    batches_in_worker,
    write_behind,
    write_in_parts,
    write_part_for,
)
from rounds.services.ports import RosterReader, RoundMessages, RoundOptions
from rounds.services.rosters import PendingRosters, read_rosters
from store.db import Database
from store.outbox import Queued, Target, activity_json, due_backlog, enqueue
from store.process_reads import ProcessReads
from store.rounds import pending
from store.rounds.lifecycle import get_round
from store.rounds.notes import MISSED_REASON
from store.rounds.opening import (
    BatchInvitee,
    Invitation,
    Invitee,
    OpenResult,
    RosterEntry,
    due_to_open,
    freeze_people,
    mark_open,
    record_invitations,
    roster_entries,
    rounds_to_invite,
    uninvited,
)
from store.rounds.tables import Round
from store.teams import Team

log = logging.getLogger(__name__)


async def nothing_to_wait_for() -> None:
    """The default `give_way`: no turns to give way to (the CLI, tests of the steps alone)."""


@dataclass(frozen=True)
class Lead:
    """How far the opener queues invitations ahead of the sender. Before each batch it waits
    while `messages` or more are due and not yet sent (the whole outbox's, not only this
    round's: they all go out through the one sender), looking every `look_every` seconds, but
    never longer than `longest_wait` a batch, so that a sender that has stopped slows the
    queuing down and does not stop it.

    A lead of 1,000 is 8 s of sending at five times Teams' limits (benchmarks/trust_scale.py)
    and about 40 s at the limits themselves, while a batch is queued in a fraction of a second:
    the sender never runs dry, and everyone is invited as soon as the limits allow. A
    `longest_wait` of 0 queues without looking at the sender."""

    messages: int = 1_000
    look_every: float = 0.25
    longest_wait: float = 5.0


class RoundOpener:
    def __init__(
        self,
        db: Database,
        rosters: RosterReader,
        framework: Framework,
        options: RoundOptions,
        messages: RoundMessages,
        *,
        on_queued: Callable[[], None] = lambda: None,
        batch: int = 200,
        give_way: Callable[[], Awaitable[None]] = nothing_to_wait_for,
        process_reads: ProcessReads | None = None,
        lead: Lead = Lead(),
    ) -> None:
        self.db = db
        self.rosters = rosters
        self.framework = framework
        self.options = options
        self.messages = messages
        self.on_queued = on_queued  # e.g. the outbox sender's wake()
        self.batch = batch  # people per read
        # People per write transaction (rounds.services.parts): on SQLite each part well under
        # 50 ms of its write lock and a short wait for a turn's write; on PostgreSQL a batch of
        # 200 is one part.
        self.write_part = write_part_for(db)
        # Called before each batch: returns once no turn is in flight (or after a few tens of
        # ms), so that a person's answer does not share the process with a new batch.
        self.give_way = give_way
        # Invitation batches drawn in a worker process, off this process's GIL (None: on a read
        # thread here). The cards are drawn there too, so `messages` must pickle.
        self.process_reads = process_reads if _picklable(messages) else None
        if process_reads is not None and self.process_reads is None:
            log.warning("invitations drawn in this process: %r does not pickle", messages)
        self.lead = lead
        self._cards: dict[tuple[object, ...], str] = {}
        # Rounds whose invitations this opener is queuing now: the nudge tick's
        # `invite_waiting` leaves them to it rather than queuing the same round twice at once.
        self._inviting: set[int] = set()
        # Teams whose roster could not be read stay pending: retried by the scheduler.
        self.pending = PendingRosters(db, rosters, self._invite, on_queued=on_queued)

    async def open_due(self, now: datetime) -> list[OpenResult]:
        opened = []
        for round_, teams in await self.db.run(lambda s: due_to_open(s, now)):
            assert round_.id is not None
            if round_.closes_at <= now:
                await self._missed(round_, now)
                continue
            rosters, missing = await read_rosters(
                self.rosters, round_, teams, give_way=self.give_way
            )
            result = await self.open_round(round_.id, rosters, now, missing=missing)
            if result is not None:
                log.info(
                    "opened round %s: %d people, %d invited; %d of %d teams' rosters pending",
                    round_.id,
                    result.participants,
                    result.invited,
                    len(missing),
                    len(teams),
                )
                opened.append(result)
        return opened

    async def _missed(self, round_: Round, now: datetime) -> None:
        round_id = round_.id
        assert round_id is not None
        if await self.db.run(lambda s: pending.mark_missed(s, round_id, now)):
            log.warning(
                "round %s not opened and nobody invited: %s (closing %s, processed %s)",
                round_id,
                MISSED_REASON,
                round_.closes_at.isoformat(),
                now.isoformat(),
            )

    async def open_round(
        self,
        round_id: int,
        rosters: dict[int, list[TeamMember]],
        now: datetime,
        *,
        missing: Sequence[Team] = (),
    ) -> OpenResult | None:
        """Freeze the rosters in batches, open the round (recording the teams whose roster is
        still `missing` as pending), queue its invitations in batches; each batch a short
        transaction, the whole safe to run again after a crash at any point."""
        # The worker process (if any) starts while the rosters are frozen: its first start
        # takes about a second, and the invitations need it only after the freezing.
        warming = self._start_worker()
        try:
            # On a thread: 15,000 entries are 22-127 ms of Python that stopped the event loop
            # (trust_scale --loop-stacks); there the loop takes the GIL back every millisecond.
            entries = await asyncio.to_thread(roster_entries, rosters)
            part = min(self.batch, self.write_part)  # no reads: a part a batch
            for start in range(0, len(entries), part):
                chunk = entries[start : start + part]
                await self.give_way()
                await self.db.run(_freezer(round_id, chunk, now))
        finally:
            if warming is not None:
                await warming

        def opening(session: Session) -> bool:
            if not mark_open(session, round_id, list(rosters), len(entries), now):
                return False
            if missing:
                pending.record_pending(session, round_id, list(missing), now)
            return True

        opened = await self.db.run(opening)
        if not opened:
            return None
        invited = await self.invite(round_id, now)
        return OpenResult(round_id, len(entries), invited)

    def _start_worker(self) -> asyncio.Future[None] | None:
        if self.process_reads is None or self.process_reads.started:
            return None
        return asyncio.ensure_future(self.process_reads.start())

    async def invite_waiting(self, now: datetime) -> int:
        """Finish any opening that stopped before every invitation was queued."""
        invited = 0
        for round_ in await self.db.read(rounds_to_invite):
            assert round_.id is not None
            if round_.id not in self._inviting:
                invited += await self.invite(round_.id, now)
        return invited

    async def invite(self, round_id: int, now: datetime) -> int:
        """Queue the round's invitations still to queue, a batch per transaction; each batch
        is read and drawn (in the worker process, if there is one) while the batch before it is
        written (the next read starts after the last participant of the batch being written)."""
        self._inviting.add(round_id)
        try:
            return await self._invite_all(round_id, now)
        finally:
            self._inviting.discard(round_id)

    async def _invite_all(self, round_id: int, now: datetime) -> int:
        round_ = await self.db.run(lambda s: get_round(s, round_id))
        drawing = self.drawing(round_)
        if self.process_reads is not None and not self.db.is_sqlite:
            return await self._invite_there(self.process_reads, drawing, now)
        invited, after = 0, None
        writing: asyncio.Future[int] | None = None
        try:
            while True:
                await self.within_lead(now)
                await self.give_way()
                invitations = await self._draw(drawing, after)
                invited, writing = invited + await self._recorded(writing), None
                if not invitations:
                    return invited
                after = invitations[-1].participant_id
                writing = asyncio.ensure_future(
                    write_in_parts(
                        self.db,
                        invitations,
                        self.write_part,
                        _invitations_recorder(round_id, now),
                        self.give_way,
                    )
                )
                await asyncio.sleep(0)  # the write queued on the writer before giving way again
                if len(invitations) < self.batch:
                    return invited + await self._recorded(writing)
        finally:
            if writing is not None and not writing.done():  # a read failed: the write ends first
                await asyncio.wait([writing])

    async def _invite_there(
        self, worker: ProcessReads, drawing: InvitationDrawing, now: datetime
    ) -> int:
        """PostgreSQL: each batch drawn and recorded in the worker process
        (`draw_and_record_invitations`), this process only keeping the lead and waiting. Written
        here, a part's SQLAlchemy, psycopg and JSON held this process's GIL for 36-68 ms, and
        answers arriving meanwhile waited at each of their hand-overs (benchmarks/trust_scale.py,
        1 December: the open's answers had a p99 of 30 ms, idle 15)."""
        key = f"open:{drawing.round_id}:{uuid.uuid4().hex}"

        def batch(after: int | None) -> Callable[[Database], WrittenBehind[int]]:
            return functools.partial(
                draw_and_record_invitations, drawing, self.batch, after, self.write_part, now, key
            )

        async def before_each() -> None:
            await self.within_lead(now)
            await self.give_way()

        return await batches_in_worker(worker, batch, self.batch, before_each, self.on_queued)

    async def within_lead(self, now: datetime) -> None:
        """Return once fewer than `lead.messages` messages due by `now` are still to be sent,
        or after `lead.longest_wait` seconds (see `Lead`)."""
        lead = self.lead
        if lead.longest_wait <= 0:
            return
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + lead.longest_wait
        backlog = functools.partial(due_backlog, now=now, at_most=lead.messages)
        while await self.db.read(backlog) >= lead.messages:
            if loop.time() >= give_up_at:
                log.debug("the sender is behind: queuing the next invitations anyway")
                return
            await asyncio.sleep(lead.look_every)

    async def _draw(self, drawing: InvitationDrawing, after: int | None) -> list[Invitation]:
        if self.process_reads is not None:
            return await self.process_reads.read(
                functools.partial(draw_invitations_there, drawing, self.batch, after)
            )
        return await self.db.read(
            functools.partial(draw_invitations, drawing, self.batch, after, cards=self._cards)
        )

    async def _recorded(self, writing: asyncio.Future[int] | None) -> int:
        count = 0 if writing is None else await writing
        if count:
            self.on_queued()
        return count

    def drawing(self, round_: Round) -> InvitationDrawing:
        """What every invitation of this round shares (plain values, picklable)."""
        assert round_.id is not None
        return InvitationDrawing(
            round_id=round_.id,
            round_name=round_.name,
            closes_on=f"{round_.closes_at.astimezone(self.options.zone):%A %-d %B}",
            question_count=self.framework.question_count,
            minutes=reading_minutes(self.framework),
            opens_at=round_.opens_at,
            closes_at=round_.closes_at,
            not_before=round_.opened_at or round_.opens_at,
            plan=ReminderPlan.parse(round_.reminder_plan),
            zone=self.options.zone.key,
            messages=self.messages,
        )

    def _invite(self, session: Session, round_: Round, invitee: Invitee, team: Team) -> bool:
        """One person's invitation (a pending team's roster read late: few people, so one at a
        time); the same dedupe key as the batches'."""
        assert round_.id is not None
        view = self.drawing(round_).view(invitee.team_names)
        if invitee.conversation is not None:
            target = Target.conversation(
                invitee.conversation.conversation_id, invitee.conversation.service_url
            )
        else:
            bot_id = json.loads(team.reference).get("bot", {}).get("id", "")
            target = Target.person(
                user_id=invitee.teams_user_id,
                tenant_id=invitee.tenant_id,
                service_url=team.service_url,
                bot_id=bot_id,
            )
        return enqueue(
            session,
            dedupe_key=f"round:{round_.id}:invite:person:{invitee.person_id}",
            kind="invitation",
            tenant_id=invitee.tenant_id,
            target=target,
            activity=self.messages.invitation(view),
            now=round_.opened_at or round_.opens_at,
            person_id=invitee.person_id,
            team_id=team.id,
            round_id=round_.id,
        )


def _freezer(round_id: int, chunk: list[RosterEntry], now: datetime) -> Callable[[Session], None]:
    return lambda session: freeze_people(session, round_id, chunk, now)


def _invitations_recorder(
    round_id: int, now: datetime
) -> Callable[[Sequence[Invitation]], Callable[[Session], int]]:
    """A part of the round's invitations as one unit of work (`write_in_parts`, `write_behind`)."""
    return lambda part: functools.partial(
        record_invitations, round_id=round_id, invitations=part, now=now
    )


@functools.lru_cache(maxsize=256)
def _bot_id(reference: str) -> str:
    return str(json.loads(reference).get("bot", {}).get("id", ""))


@functools.lru_cache(maxsize=1024)
def _moments(
    opens_at: datetime, closes_at: datetime, plan: ReminderPlan, zone: ZoneInfo
) -> datetime | None:
    moments = plan.moments(opens_at, closes_at, zone)
    return min(moments) if moments else None


@dataclass(frozen=True)
class InvitationDrawing:
    """What every invitation of one round shares, as plain values: it pickles, so that the
    worker process draws a batch of invitations from it as this process would (the same code,
    `draw_invitations`, runs in both)."""

    round_id: int
    round_name: str
    closes_on: str  # e.g. "Friday 11 December", in the organisation's zone
    question_count: int
    minutes: tuple[int, int]
    opens_at: datetime
    closes_at: datetime
    not_before: datetime  # when the round opened
    plan: ReminderPlan
    zone: str  # the organisation's (IANA name)
    # Draws the card (e.g. bot.cards.rounds.messages.RoundCards); not part of the drawing's
    # identity, so that a copy unpickled in the worker equals it.
    messages: RoundMessages = field(compare=False)

    def view(self, team_names: tuple[str, ...]) -> InvitationView:
        return InvitationView(
            round_id=self.round_id,
            round_name=self.round_name,
            team_names=team_names,
            closes_on=self.closes_on,
            question_count=self.question_count,
            minutes=self.minutes,
        )

    def card_json(self, team_names: tuple[str, ...], cards: dict[tuple[object, ...], str]) -> str:
        """The invitation card, drawn and serialised once per round and set of teams (`cards`
        keeps them between batches)."""
        key = (self.round_id, self.round_name, self.closes_on, self.minutes, team_names)
        return drawn_once(
            cards, key, lambda: activity_json(self.messages.invitation(self.view(team_names)))
        )

    def invitation(self, invitee: BatchInvitee, cards: dict[tuple[object, ...], str]) -> Invitation:
        team = invitee.teams[0]
        if invitee.conversation is not None:
            target = Target.conversation(
                invitee.conversation.conversation_id, invitee.conversation.service_url
            )
        else:
            target = Target.person(
                user_id=invitee.teams_user_id,
                tenant_id=invitee.tenant_id,
                service_url=team.service_url,
                bot_id=_bot_id(team.reference),
            )
        message = Queued(
            dedupe_key=f"round:{self.round_id}:invite:person:{invitee.person_id}",
            kind="invitation",
            tenant_id=invitee.tenant_id,
            target=target,
            activity_json=self.card_json(invitee.team_names, cards),
            person_id=invitee.person_id,
            team_id=team.id,
            round_id=self.round_id,
            not_before=self.not_before,
        )
        zone = resolve_zone(invitee.time_zone, self.zone)
        # The earliest a nudge can be due for someone in `zone` who has done nothing yet: the
        # round's first plan moment there (rounds.rules.nudges.next_nudge_at never answers
        # earlier).
        first = _moments(self.opens_at, self.closes_at, self.plan, zone)
        return Invitation(invitee.participant_id, message, first)


def draw_invitations(
    drawing: InvitationDrawing,
    limit: int,
    after: int | None,
    session: Session,
    *,
    cards: dict[tuple[object, ...], str],
) -> list[Invitation]:
    """The next batch of the round's invitations still to queue (after participant `after`),
    each with its message and first nudge time: three queries, and Python per person."""
    invitees = uninvited(session, drawing.round_id, limit, after=after)
    return [drawing.invitation(invitee, cards) for invitee in invitees]


_CARDS_THERE: dict[tuple[object, ...], str] = {}


def draw_invitations_there(
    drawing: InvitationDrawing, limit: int, after: int | None, session: Session
) -> list[Invitation]:
    """`draw_invitations` in the worker process, its cards kept there between batches."""
    return draw_invitations(drawing, limit, after, session, cards=_CARDS_THERE)


def draw_and_record_invitations(
    drawing: InvitationDrawing,
    limit: int,
    after: int | None,
    part: int,
    now: datetime,
    key: str,
    database: Database,
) -> WrittenBehind[int]:
    """What the open's worker process does with each batch on PostgreSQL: the next batch drawn
    (`draw_invitations_there`, in a read snapshot) while the batch before it is still being
    recorded (`write_behind`, `part` invitations a transaction), except the last (fewer than
    `limit`), recorded before returning. Picklable with its arguments but the last, the
    worker's own database."""
    invitations = database.read_sync(
        functools.partial(draw_invitations_there, drawing, limit, after)
    )
    last = len(invitations) < limit
    recorder = _invitations_recorder(drawing.round_id, now)
    queued = write_behind(key, database, invitations, part, recorder, last=last)
    return WrittenBehind(
        queued, len(invitations), invitations[-1].participant_id if invitations else after
    )


def _picklable(value: object) -> bool:
    try:
        pickle.dumps(value)
    except (pickle.PicklingError, TypeError, AttributeError):
        return False
    return True
