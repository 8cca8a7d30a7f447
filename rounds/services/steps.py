"""The scheduled steps of a round, each idempotent and safe to run late or twice:

    open_due(now)    rounds whose opening time has come: roster, invitations (rounds.services.opening)
    close_due(now)   rounds whose closing time has come: results, a summary per team channel (and
                     to the improvement team), pending nudges cancelled, the next round of a
                     repeating series scheduled; all in the transaction that closes the round
    nudge_due(now)   people who have not submitted and whose next nudge is due (rounds.rules.schedule)

The scheduler (scheduler/) only wakes these up; tests call them with a moved clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot.cards.rounds.invitation import InvitationView, invitation_card
from bot.cards.rounds.summary import summary_card
from bot.config import Settings
from bot.replies import card_activity
from framework.content import Framework
from rounds.rules.schedule import NudgeState, ReminderPlan, is_due, resolve_zone
from rounds.rules.summary import summary_view
from rounds.rules.when import Period
from rounds.services.charts import chart_url, team_chart
from rounds.services.opening import RoundOpener
from store.assessments.tables import Assessment
from store.audit import audit
from store.db import Database
from store.outbox import OutboxMessage, Target, enqueue
from store.people import ConversationRef, Person
from store.rounds.charts import save_chart
from store.rounds.lifecycle import preferences_of, round_teams
from store.rounds.results import compute_round_results
from store.rounds.tables import Round, RoundParticipant, RoundParticipantTeam, RoundTeam
from store.teams import Team

log = logging.getLogger(__name__)


class RoundJobs:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        framework: Framework,
        opener: RoundOpener,
        *,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.framework = framework
        self.opener = opener
        self.on_queued = on_queued

    async def run_due(self, now: datetime) -> None:
        await self.open_due(now)
        await self.close_due(now)
        await self.nudge_due(now)

    async def open_due(self, now: datetime) -> int:
        return len(await self.opener.open_due(now))

    # -- closing ---------------------------------------------------------------------------

    async def close_due(self, now: datetime) -> list[int]:
        due = await self.db.run(
            lambda s: list(
                s.exec(
                    select(Round.id).where(Round.status == "open", col(Round.closes_at) <= now)
                ).all()
            )
        )
        closed = []
        for round_id in due:
            assert round_id is not None
            if await self.db.run(self._closing(round_id, now)):
                closed.append(round_id)
                log.info("closed round %s", round_id)
        if closed:
            self.on_queued()
        return closed

    def _closing(self, round_id: int, now: datetime) -> Callable[[Session], bool]:
        def work(session: Session) -> bool:
            return self.close_round(session, round_id, now)

        return work

    def close_round(self, session: Session, round_id: int, now: datetime) -> bool:
        moved = session.execute(
            sa.update(Round)
            .where(col(Round.id) == round_id, col(Round.status) == "open")
            .values(status="closed", closed_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return False  # another process closed it, or it was cancelled
        round_ = session.get(Round, round_id)
        assert round_ is not None
        session.refresh(round_)
        results = compute_round_results(
            session,
            round_id,
            framework=self.framework,
            min_group=self.settings.min_group_size,
            min_comment_group=self.settings.min_comment_group_size,
        )
        improvement = self._improvement_team(session)
        for team in round_teams(session, round_):
            assert team.id is not None
            png, alt = team_chart(results, team.id, self.framework)
            url = None
            if self.settings.public_url:
                url = chart_url(self.settings.public_url, save_chart(session, png, now))
            card = summary_card(
                summary_view(results, team.id, self.framework, chart_url=url, chart_alt=alt)
            )
            activity = card_activity(card).serialize()
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
        # A closed round sends no more nudges.
        session.execute(
            sa.update(OutboxMessage)
            .where(
                col(OutboxMessage.round_id) == round_id,
                col(OutboxMessage.kind) == "nudge",
                col(OutboxMessage.status) == "pending",
            )
            .values(status="cancelled")
        )
        self._schedule_repeat(session, round_, now)
        audit(
            session, actor="scheduler", action="round.closed", target=f"round:{round_id}", now=now
        )
        return True

    def _improvement_team(self, session: Session) -> Team | None:
        if not self.settings.improvement_team_id:
            return None
        return session.exec(
            select(Team).where(
                Team.team_id == self.settings.improvement_team_id, col(Team.installed).is_(True)
            )
        ).first()

    def _schedule_repeat(self, session: Session, round_: Round, now: datetime) -> None:
        if not round_.repeat_every or round_.repeat_paused:
            return
        period = Period.parse(round_.repeat_every)
        opens_at = period.after(round_.opens_at, self.settings.zone)
        while opens_at <= now:  # a long outage: the next occurrence still to come
            opens_at = period.after(opens_at, self.settings.zone)
        following = Round(
            name=round_.name,
            framework_id=self.framework.id,
            framework_version=self.framework.version,
            status="scheduled",
            opens_at=opens_at,
            closes_at=opens_at + (round_.closes_at - round_.opens_at),
            reminder_plan=round_.reminder_plan,
            role_question=round_.role_question,
            repeat_every=round_.repeat_every,
            previous_round_id=round_.id,
            created_by="scheduler",
            created_at=now,
            updated_at=now,
        )
        session.add(following)
        session.flush()
        assert following.id is not None
        teams = session.exec(select(RoundTeam.team_id).where(RoundTeam.round_id == round_.id)).all()
        for team_id in teams:
            session.add(RoundTeam(round_id=following.id, team_id=team_id))
        audit(
            session,
            actor="scheduler",
            action="round.repeat",
            target=f"round:{following.id}",
            detail={"previous": round_.id, "opens_at": opens_at},
            now=now,
        )

    async def repeat_due(self, now: datetime) -> int:
        """Successors for closed repeating rounds that have none (closing normally schedules it;
        this covers a repetition resumed after a pause)."""
        return await self.db.run(lambda s: self.schedule_missing_repeats(s, now))

    def schedule_missing_repeats(self, session: Session, now: datetime) -> int:
        successor_ids = select(Round.previous_round_id).where(
            col(Round.previous_round_id).is_not(None)
        )
        waiting = session.exec(
            select(Round).where(
                Round.status == "closed",
                col(Round.repeat_every).is_not(None),
                col(Round.repeat_paused).is_(False),
                col(Round.id).not_in(successor_ids),
            )
        ).all()
        for round_ in waiting:
            self._schedule_repeat(session, round_, now)
        return len(waiting)

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
        for round_ in session.exec(select(Round).where(Round.status == "open")).all():
            assert round_.id is not None
            plan = ReminderPlan.parse(round_.reminder_plan)
            waiting = session.exec(
                select(RoundParticipant, Person)
                .join(Person, col(Person.id) == col(RoundParticipant.person_id))
                .outerjoin(Assessment, col(Assessment.id) == col(RoundParticipant.assessment_id))
                .where(
                    RoundParticipant.round_id == round_.id,
                    col(RoundParticipant.opted_out).is_(False),
                    sa.or_(
                        col(Assessment.status).is_(None),
                        col(Assessment.status) != "submitted",
                    ),
                )
            ).all()
            for participant, person in waiting:
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
        preferences = preferences_of(session, person.id)
        zone = resolve_zone(person.time_zone, self.settings.timezone)
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
        target = self._target(session, person)
        if target is None:
            return False
        team_names = tuple(
            session.exec(
                select(Team.name)
                .join(RoundParticipantTeam, col(RoundParticipantTeam.team_id) == col(Team.id))
                .where(RoundParticipantTeam.participant_id == participant.id)
            ).all()
        )
        view = InvitationView(
            round_id=round_.id,
            round_name=round_.name,
            team_names=team_names,
            closes_on=f"{round_.closes_at.astimezone(zone):%A %-d %B}",
            question_count=self.framework.question_count,
            nudge=True,
        )
        queued = enqueue(
            session,
            dedupe_key=f"round:{round_.id}:nudge:person:{person.id}:{number}",
            kind="nudge",
            tenant_id=person.tenant_id,
            target=target,
            activity=card_activity(invitation_card(view)).serialize(),
            now=now,
            person_id=person.id,
            round_id=round_.id,
        )
        participant.nudges_sent = number
        participant.last_nudged_at = now
        return queued

    @staticmethod
    def _target(session: Session, person: Person) -> Target | None:
        reference = session.exec(
            select(ConversationRef).where(
                ConversationRef.person_id == person.id, ConversationRef.scope == "personal"
            )
        ).first()
        if reference is None:
            return None  # their invitation creates the chat; until it has, there is no nudge
        return Target.conversation(reference.conversation_id, reference.service_url)
