"""The improvement team's actions on rounds, the same from Teams (bot.dialogs.rounds.admin) and
from the CLI (cli.rounds): each method is one unit of work, and every change is audited.

Who may act is decided by the caller (rounds.rules.access, team owners for their own results)
and recorded here with `record_decision`, allowed or refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import Session

from framework.content import Framework
from framework.identity import Identity
from rounds.rules.results import RoundResults
from rounds.rules.summary import EvidenceFact, evidence_facts
from rounds.rules.views import TeamProgress
from rounds.services.evidence import QuestionEvidence
from rounds.services.ports import RoundOptions
from store.audit import audit
from store.db import Database
from store.rounds import lifecycle, participants, resend
from store.rounds.export_links import LINK_LIFETIME, create_link
from store.rounds.frozen import (
    Evidence,
    RoundNotClosed,
    frozen_evidence,
    results_of_closed_round,
)
from store.rounds.lifecycle import RoundError, RoundSpec, RoundSummary
from store.rounds.progress import team_progress
from store.rounds.resend import Resent
from store.rounds.results import RoundNotFound
from store.rounds.status import RoundStatus, round_status
from store.teams import Team, installed_teams
from store.tenancy import round_tenants, rounds_of_tenant, teams_tenants

__all__ = [
    "LINK_LIFETIME",
    "RoundAdmin",
    "RoundError",
    "RoundNotClosed",
    "RoundNotFound",
    "RoundSpec",
    "TeamProgress",
]


class RoundAdmin:
    def __init__(
        self,
        db: Database,
        framework: Framework,
        options: RoundOptions,
        clock: Callable[[], datetime],
        evidence: QuestionEvidence | None = None,
    ) -> None:
        self.db = db
        self.framework = framework
        self.options = options
        self.clock = clock
        self.evidence = evidence

    # -- reading ------------------------------------------------------------------------------

    async def rounds(self, tenant: str | None = None) -> list[RoundSummary]:
        """Every round, or (given a tenant) only that tenant's."""

        def read(session: Session) -> list[RoundSummary]:
            summaries = lifecycle.list_rounds(session)
            if tenant is None:
                return summaries
            mine = rounds_of_tenant(session, tenant)
            return [s for s in summaries if s.id in mine]

        return await self.db.run(read)

    async def teams(self, tenant: str | None = None) -> list[Team]:
        """Every installed Team, or (given a tenant) only that tenant's."""
        teams = await self.db.run(installed_teams)
        return teams if tenant is None else [t for t in teams if t.tenant_id == tenant]

    async def in_tenant(self, round_id: int, tenant: str) -> bool:
        """Whether this round's teams are all in this tenant (False for no such round)."""
        return await self.db.run(lambda s: round_tenants(s, round_id)) == {tenant}

    async def status(self, round_id: int) -> RoundStatus:
        return await self.db.run(lambda s: round_status(s, round_id))

    async def results(self, round_id: int) -> RoundResults:
        """A closed round's group results, as frozen when it closed (RoundNotFound if there is no
        such round; RoundNotClosed while it is open: then only `progress` is shown)."""
        now = self.clock()
        return await self.db.run(lambda s: self.closed_results(s, round_id, now))

    def closed_results(self, session: Session, round_id: int, now: datetime) -> RoundResults:
        return results_of_closed_round(
            session,
            round_id,
            framework=self.framework,
            min_group=self.options.min_group,
            min_comment_group=self.options.min_comment_group,
            now=now,
            evidence=self._evidence_as_of_close(session, round_id, now),
        )

    def _evidence_as_of_close(
        self, session: Session, round_id: int, now: datetime
    ) -> Evidence | None:
        """For a round closed before results were frozen: its evidence as of its close."""
        evidence = self.evidence
        if evidence is None:
            return None

        def read(team_id: int) -> list[tuple[int, str]]:
            closed = lifecycle.get_round(session, round_id).closed_at
            return evidence(session, team_id, (closed or now).astimezone(self.options.zone).date())

        return read

    async def progress(self, round_id: int, team_id: int) -> TeamProgress | None:
        """A team's response counts in a round (all that is shown while it is open)."""
        return await self.db.run(lambda s: team_progress(s, round_id, team_id))

    async def evidence_for(self, round_id: int, team_id: int) -> tuple[EvidenceFact, ...]:
        """The bot's other records beside a team's results (as of the round's close, or today
        while it is open)."""
        evidence = self.evidence
        if evidence is None:
            return ()
        now = self.clock()

        def read(session: Session) -> tuple[EvidenceFact, ...]:
            round_ = lifecycle.get_round(session, round_id)
            frozen = frozen_evidence(session, round_id, team_id)
            if round_.status == "closed" and frozen is not None:
                return evidence_facts(self.framework, frozen)  # as frozen with the results
            today = (round_.closed_at or now).astimezone(self.options.zone).date()
            return evidence_facts(self.framework, tuple(evidence(session, team_id, today)))

        return await self.db.run(read)

    # -- changing -----------------------------------------------------------------------------

    async def create(self, spec: RoundSpec, *, actor: str, tenant: str | None = None) -> int:
        """A new round. Its teams must share one tenant (given one: that tenant; a team of
        another tenant is refused, and the refusal audited as `round_create.other_tenant`)."""
        now = self.clock()

        def create(session: Session) -> int:
            tenants = teams_tenants(session, spec.team_ids)
            if tenant is not None and tenants - {tenant}:
                raise OtherTenantTeams(
                    "the bot is not installed in these teams in your organisation"
                )
            if len(tenants) > 1:
                raise RoundError("a round's teams must all be in one tenant")
            round_ = lifecycle.create_round(
                session, spec, framework=self.framework, actor=actor, now=now
            )
            assert round_.id is not None
            return round_.id

        try:
            return await self.db.run(create)
        except OtherTenantTeams:
            await self.db.run(
                lambda s: audit(
                    s, actor=actor, action="round_create.other_tenant", allowed=False, now=now
                )
            )
            raise

    async def extend(self, round_id: int, closes_at: datetime, *, actor: str) -> None:
        now = self.clock()
        await self.db.run(
            lambda s: lifecycle.extend_round(s, round_id, closes_at, actor=actor, now=now)
        )

    async def extend_by(self, round_id: int, delta: timedelta, *, actor: str) -> datetime:
        now = self.clock()

        def extend(session: Session) -> datetime:
            closes = lifecycle.get_round(session, round_id).closes_at + delta
            lifecycle.extend_round(session, round_id, closes, actor=actor, now=now)
            return closes

        return await self.db.run(extend)

    async def close(self, round_id: int, *, actor: str) -> None:
        now = self.clock()
        await self.db.run(lambda s: lifecycle.request_close(s, round_id, actor=actor, now=now))

    async def cancel(self, round_id: int, *, actor: str) -> None:
        now = self.clock()
        await self.db.run(lambda s: lifecycle.cancel_round(s, round_id, actor=actor, now=now))

    async def resend(self, round_id: int, *, person: str | None, actor: str) -> Resent:
        """Queue the round's failed invitations and summaries again (store.rounds.resend)."""
        now = self.clock()
        return await self.db.run(
            lambda s: resend.resend(s, round_id, person=person, actor=actor, now=now)
        )

    async def set_repetition(self, round_id: int, change: str, *, actor: str) -> None:
        now = self.clock()
        await self.db.run(
            lambda s: lifecycle.set_repetition(s, round_id, change, actor=actor, now=now)
        )

    async def export_link(self, round_id: int, fmt: str, *, actor: str) -> tuple[str, str]:
        """A short-lived download link's token for the round's results: (round name, token)."""
        now = self.clock()

        def make(session: Session) -> tuple[str, str]:
            round_ = lifecycle.get_round(session, round_id)
            if round_.status != "closed":
                raise RoundError(
                    f"Round {round_id} is {round_.status}: its results can be downloaded once "
                    "it has closed"
                )
            link = create_link(session, round_id, fmt, created_by=actor, now=now)
            audit(session, actor=actor, action="round.export", target=f"round:{round_id}",
                  detail={"format": fmt, "via": "teams"}, now=now)  # fmt: skip
            return round_.name, link.token

        return await self.db.run(make)

    # -- who may ------------------------------------------------------------------------------

    async def record_decision(
        self,
        identity: Identity,
        action: str,
        *,
        improvement_team: bool,
        owner_of: tuple[int, int] | None = None,
    ) -> bool:
        """Allowed for the improvement team, or for an owner of the team whose results these are
        (as Teams said when the round's roster was frozen); audited either way."""
        actor, now = actor_of(identity), self.clock()

        def decide(session: Session) -> bool:
            allowed = improvement_team or (
                owner_of is not None and participants.is_team_owner(session, *owner_of, identity)
            )
            audit(session, actor=actor, action=action, allowed=allowed, now=now)
            return allowed

        return await self.db.run(decide)


class OtherTenantTeams(RoundError):
    """A round asked for with teams of another tenant than the asker's."""


def actor_of(identity: Identity) -> str:
    """How the audit trail names a person: their Entra object id, else their Teams id."""
    return identity.aad_object_id or f"teams:{identity.teams_user_id}"
