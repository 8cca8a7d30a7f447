"""A round's progress as the improvement team reads it: responses per team, and failures."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from store import outbox
from store.assessments.tables import Assessment
from store.people import Person
from store.rounds.lifecycle import (
    RoundSummary,
    get_round,
    summarise,
)
from store.rounds.tables import RoundParticipant, RoundParticipantTeam, RoundTeam
from store.teams import Team


@dataclass(frozen=True)
class TeamResponses:
    team_id: str  # Teams' id
    name: str
    submitted: int
    roster: int  # frozen when the round opened; 0 before


@dataclass(frozen=True)
class Failure:
    kind: str
    person_id: int | None
    person: str | None  # their name, for whoever follows the failure up
    team_id: str | None  # Teams' id of the team (channel) the message was for
    team: str | None
    http_status: int | None  # None: no answer (network)
    code: str  # Teams' error code, e.g. ConversationBlockedByUser
    message: str
    attempts: int


@dataclass(frozen=True)
class RoundStatus:
    summary: RoundSummary
    responses: list[TeamResponses]
    messages: dict[str, int]
    failures: list[Failure]


_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.]*")


def _split_error(error: str) -> tuple[str, str]:
    """The sender records `Code: message` (or just `Code`): split it back."""
    code, _, message = error.partition(":")
    if _CODE.fullmatch(code.strip()):
        return code.strip(), message.strip()
    return "", error.strip()


def team_responses(session: Session, round_id: int) -> list[TeamResponses]:
    """Per team of the round: who is on its frozen roster, and how many of them submitted."""
    counts = {
        team_pk: (int(roster), int(submitted))
        for team_pk, roster, submitted in session.exec(
            select(
                RoundParticipantTeam.team_id,
                sa.func.count(sa.distinct(col(RoundParticipant.id))),
                sa.func.count(sa.distinct(col(Assessment.id))),
            )
            .select_from(RoundParticipant)
            .join(
                RoundParticipantTeam,
                col(RoundParticipantTeam.participant_id) == col(RoundParticipant.id),
            )
            .outerjoin(
                Assessment,
                sa.and_(
                    col(Assessment.id) == col(RoundParticipant.assessment_id),
                    col(Assessment.status) == "submitted",
                ),
            )
            .where(RoundParticipant.round_id == round_id)
            .group_by(col(RoundParticipantTeam.team_id))
        ).all()
    }
    teams = session.exec(
        select(Team.id, Team.team_id, Team.name)
        .join(RoundTeam, col(RoundTeam.team_id) == col(Team.id))
        .where(RoundTeam.round_id == round_id)
        .order_by(col(Team.name), col(Team.id))
    ).all()
    responses = []
    for pk, team_id, name in teams:
        roster, submitted = counts.get(pk, (0, 0)) if pk is not None else (0, 0)
        responses.append(TeamResponses(team_id, name, submitted=submitted, roster=roster))
    return responses


def round_status(session: Session, round_id: int) -> RoundStatus:
    summary = summarise(session, get_round(session, round_id))
    failed = outbox.failures(session, round_id)
    person_ids = {f.person_id for f in failed if f.person_id is not None}
    team_ids = {f.team_id for f in failed if f.team_id is not None}
    people = {
        pid: name
        for pid, name in session.exec(
            select(Person.id, Person.name).where(col(Person.id).in_(person_ids))
        ).all()
    }
    teams = {
        pk: (tid, name)
        for pk, tid, name in session.exec(
            select(Team.id, Team.team_id, Team.name).where(col(Team.id).in_(team_ids))
        ).all()
    }
    failures = []
    for f in failed:
        code, message = _split_error(f.error)
        team = teams.get(f.team_id) if f.team_id is not None else None
        failures.append(
            Failure(
                kind=f.kind,
                person_id=f.person_id,
                person=people.get(f.person_id) if f.person_id is not None else None,
                team_id=team[0] if team else None,
                team=team[1] if team else None,
                http_status=f.status,
                code=code,
                message=message,
                attempts=f.attempts,
            )
        )
    return RoundStatus(
        summary=summary,
        responses=team_responses(session, round_id),
        messages=outbox.status_counts(session, round_id),
        failures=failures,
    )
