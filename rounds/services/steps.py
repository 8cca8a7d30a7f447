"""The scheduled steps of a round, each idempotent and safe to run late or twice:

    open_due(now)    rounds whose opening time has come: rosters, invitations (opening.py)
    close_due(now)   rounds whose closing time has come: results, a summary per team channel (and
                     to the improvement team), pending nudges cancelled, the next round of a
                     repeating series scheduled; all in the transaction that closes the round
    nudge_due(now)   people who have not submitted and whose next nudge is due (rules.schedule)
    repeat_due(now)  successors for repeating rounds that have none (after a resumed pause)

The scheduler (scheduler/) only wakes these up (jobs.py says when); tests call them with a
moved clock. Messages are drawn by `RoundMessages` (the composition root passes the cards).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from framework.content import Framework
from framework.reading import reading_minutes
from rounds.rules.schedule import NudgeState, ReminderPlan, is_due, resolve_zone
from rounds.rules.summary import summary_view
from rounds.rules.views import InvitationView
from rounds.rules.when import Period
from rounds.services.charts import stored_chart_url
from rounds.services.evidence import QuestionEvidence
from rounds.services.opening import RoundOpener
from rounds.services.ports import RoundMessages, RoundOptions
from store.audit import audit
from store.db import Database
from store.outbox import Target, enqueue
from store.people import Person
from store.rounds import steps as queries
from store.rounds.frozen import Evidence, freeze_round_results
from store.rounds.opening import round_teams
from store.rounds.participants import preferences_of
from store.rounds.tables import Round, RoundParticipant
from store.rounds.targets import nudge_target
from store.teams import Team, installed_team

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
    ) -> None:
        self.db = db
        self.framework = framework
        self.options = options
        self.messages = messages
        self.opener = opener
        self.on_queued = on_queued
        self.evidence = evidence  # e.g. huddle records beside question 18

    async def run_due(self, now: datetime) -> None:
        await self.open_due(now)
        await self.close_due(now)
        await self.nudge_due(now)

    async def open_due(self, now: datetime) -> int:
        return len(await self.opener.open_due(now))

    # -- closing ---------------------------------------------------------------------------

    async def close_due(self, now: datetime) -> list[int]:
        closed = []
        for round_id in await self.db.run(lambda s: queries.due_to_close(s, now)):
            if await self.db.run(self._closer(round_id, now)):
                closed.append(round_id)
                log.info("closed round %s", round_id)
        if closed:
            self.on_queued()
        return closed

    def _closer(self, round_id: int, now: datetime) -> Callable[[Session], bool]:
        return lambda session: self.close_round(session, round_id, now)

    def close_round(self, session: Session, round_id: int, now: datetime) -> bool:
        round_ = queries.mark_closed(session, round_id, now)
        if round_ is None:
            return False  # another process closed it, or it was cancelled
        # Results are computed once, here, and frozen: every later view and export reads them.
        results = freeze_round_results(
            session,
            round_id,
            framework=self.framework,
            min_group=self.options.min_group,
            min_comment_group=self.options.min_comment_group,
            now=now,
            evidence=self._evidence_at(session, now),
        )
        improvement = self._improvement_team(session)
        for team in round_teams(session, round_):
            assert team.id is not None
            url, alt = stored_chart_url(
                session, results, team.id, self.framework, public_url=self.options.public_url,
                now=now,
            )  # fmt: skip
            today = now.astimezone(self.options.zone).date()
            evidence = tuple(self.evidence(session, team.id, today)) if self.evidence else ()
            view = summary_view(
                results, team.id, self.framework, chart_url=url, chart_alt=alt, evidence=evidence
            )
            activity = self.messages.summary(view)
            destinations = [(team, f"round:{round_id}:summary:team:{team.id}")]
            if improvement is not None and improvement.id != team.id:
                destinations.append(
                    (improvement, f"round:{round_id}:summary:team:{team.id}:improvement")
                )
            for channel, key in destinations:
                enqueue(
                    session,
                    dedupe_key=key,
                    kind="summary",
                    tenant_id=channel.tenant_id,
                    target=Target.conversation(
                        channel.channel_conversation_id, channel.service_url
                    ),
                    activity=activity,
                    now=now,
                    team_id=channel.id,
                    round_id=round_id,
                )
        queries.cancel_pending_nudges(session, round_id)
        self._schedule_repeat(session, round_, now)
        audit(
            session, actor="scheduler", action="round.closed", target=f"round:{round_id}", now=now
        )
        return True

    def _evidence_at(self, session: Session, now: datetime) -> Evidence | None:
        """The evidence beside each team's results as of the close, to freeze with them."""
        evidence = self.evidence
        if evidence is None:
            return None
        today = now.astimezone(self.options.zone).date()
        return lambda team_id: evidence(session, team_id, today)

    def _improvement_team(self, session: Session) -> Team | None:
        if not self.options.improvement_team_id:
            return None
        return installed_team(session, self.options.improvement_team_id)

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
        count = await self.db.run(lambda s: self.queue_nudges(s, now))
        if count:
            self.on_queued()
        return count

    def queue_nudges(self, session: Session, now: datetime) -> int:
        """Queue the nudges due now, at most one per person, with their counters, in one
        transaction; a second call at the same moment queues nothing."""
        queued = 0
        for round_ in queries.open_rounds(session):
            assert round_.id is not None
            plan = ReminderPlan.parse(round_.reminder_plan)
            for participant, person in queries.waiting_participants(session, round_.id):
                if self._nudge(session, round_, plan, participant, person, now):
                    queued += 1
        return queued

    def _nudge(
        self,
        session: Session,
        round_: Round,
        plan: ReminderPlan,
        participant: RoundParticipant,
        person: Person,
        now: datetime,
    ) -> bool:
        assert round_.id is not None
        assert person.id is not None
        assert participant.id is not None
        preferences = preferences_of(session, person.id)
        zone = resolve_zone(person.time_zone, self.options.zone.key)
        window = preferences.window(zone)
        state = NudgeState(
            nudges_sent=participant.nudges_sent,
            last_nudged_at=participant.last_nudged_at,
            snoozed_until=participant.snoozed_until,
            opted_out=participant.opted_out,
            submitted=False,
            away_until=preferences.away_until,
        )
        moments = plan.moments(round_.opens_at, round_.closes_at, window.zone)
        if not is_due(
            now, plan_moments=moments, state=state, window=window, closes_at=round_.closes_at
        ):
            return False
        number = participant.nudges_sent + 1
        # Their chat, else one created through their team (their invitation may have failed).
        target = nudge_target(session, person, participant.id, round_.id)
        if target is None:
            return False
        view = InvitationView(
            round_id=round_.id,
            round_name=round_.name,
            team_names=queries.participant_team_names(session, participant.id),
            closes_on=f"{round_.closes_at.astimezone(zone):%A %-d %B}",
            question_count=self.framework.question_count,
            minutes=reading_minutes(self.framework),
            nudge=True,
        )
        queued = enqueue(
            session,
            dedupe_key=f"round:{round_.id}:nudge:person:{person.id}:{number}",
            kind="nudge",
            tenant_id=person.tenant_id,
            target=target,
            activity=self.messages.invitation(view),
            now=now,
            person_id=person.id,
            round_id=round_.id,
        )
        participant.nudges_sent = number
        participant.last_nudged_at = now
        return queued
