"""Rosters on the bad days (issue 11): a team whose roster Teams would not give us (the reader
already retried within Teams' limits) stays *pending* instead of opening empty; the scheduler
retries it (`retry_due`, the `rosters:retry` job) and its people are invited once it is read.
The queries are store.rounds.pending's."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlmodel import Session

from framework.identity import TeamMember
from rounds.services.ports import RosterReader
from store.db import Database
from store.rounds import pending
from store.rounds.opening import InvitationWriter
from store.rounds.tables import Round
from store.teams import Team

log = logging.getLogger(__name__)


async def read_rosters(
    reader: RosterReader,
    round_: Round,
    teams: Sequence[Team],
    *,
    give_way: Callable[[], Awaitable[None]] | None = None,
) -> tuple[dict[int, list[TeamMember]], list[Team]]:
    """Each team's roster: (rosters read, by team, teams still pending). An empty roster counts
    as not read: a Team always has an owner, so nobody means Teams did not really answer.

    `give_way` is awaited before each team's read (see RoundOpener): a read's request and the
    SDK's parsing of its page are a few milliseconds of the event loop's time each, one after
    another for a whole trust's teams, and a person's answer arriving meanwhile waited for them
    (issue 13: the open's first second had four of the twelve slowest answers)."""
    read: dict[int, list[TeamMember]] = {}
    missing: list[Team] = []
    for team in teams:
        assert team.id is not None
        if give_way is not None:
            await give_way()
        try:
            members = await reader.roster(team.team_id, team.reference, team.tenant_id)
        except Exception as exc:  # whatever Teams or the network did, the team waits
            log.warning(
                "round %s: could not read the roster of team %s (%s: %s); it stays pending and "
                "is retried",
                round_.id,
                team.team_id,
                type(exc).__name__,
                exc,
            )
            missing.append(team)
            continue
        if not members:
            log.warning(
                "round %s: Teams gave an empty roster for team %s; it stays pending and is retried",
                round_.id,
                team.team_id,
            )
            missing.append(team)
            continue
        read[team.id] = members
    return read, missing


class PendingRosters:
    """Retries the rosters of open rounds' pending teams and invites their people once."""

    def __init__(
        self,
        db: Database,
        reader: RosterReader,
        invite: InvitationWriter,
        *,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.reader = reader
        self.invite = invite
        self.on_queued = on_queued

    async def retry_due(self, now: datetime) -> list[pending.FrozenTeam]:
        frozen = []
        for round_, team in await self.db.run(lambda s: pending.pending_teams(s, now)):
            assert round_.id is not None
            assert team.id is not None
            rosters, _missing = await read_rosters(self.reader, round_, [team])
            if team.id not in rosters:
                continue
            result = await self.db.run(self._freezer(round_.id, team.id, rosters[team.id], now))
            if result is not None:
                log.info(
                    "round %s: roster of team %s read at last: %d joined, %d invited",
                    round_.id,
                    team.team_id,
                    result.joined,
                    result.invited,
                )
                frozen.append(result)
        if any(result.invited for result in frozen):
            self.on_queued()
        return frozen

    def _freezer(
        self, round_id: int, team_id: int, members: list[TeamMember], now: datetime
    ) -> Callable[[Session], pending.FrozenTeam | None]:
        def work(session: Session) -> pending.FrozenTeam | None:
            return pending.freeze_team(
                session, round_id, team_id, members, invite=self.invite, now=now
            )

        return work
