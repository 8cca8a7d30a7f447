"""Rounds as stored: creating, listing, changing, and the audit trail of every admin action.

Functions take an open session (one transaction). Authorisation is decided by the caller
(rounds.rules.access) and recorded here with `audit`, whether the action was allowed or refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from framework.content import Framework
from rounds.rules.schedule import PlanError, ReminderPlan
from store.assessments.tables import Assessment
from store.audit import audit
from store.outbox import OutboxMessage
from store.rounds.notes import pending_team_names, round_note
from store.rounds.tables import (
    Round,
    RoundParticipant,
    RoundTeam,
)
from store.teams import Team

MAX_NAME = 200


class RoundError(ValueError):
    """A round can't be created or changed as asked; the message says why, in one line."""


@dataclass(frozen=True)
class RoundSpec:
    name: str
    team_ids: tuple[str, ...]  # Teams' team ids
    opens_at: datetime
    closes_at: datetime
    reminder_plan: str
    role_question: bool = False
    repeat_every: str | None = None


@dataclass(frozen=True)
class RoundSummary:
    id: int
    name: str
    status: str
    opens_at: datetime
    closes_at: datetime
    teams: tuple[str, ...]
    participants: int
    submitted: int
    pending_teams: tuple[str, ...] = ()  # teams whose roster could not be read yet
    note: str = ""  # e.g. why it never opened (store.rounds.notes)


def create_round(
    session: Session, spec: RoundSpec, *, framework: Framework, actor: str, now: datetime
) -> Round:
    name = " ".join(spec.name.split())
    if not name or len(name) > MAX_NAME:
        raise RoundError(f"a round needs a name of 1 to {MAX_NAME} characters")
    if not spec.team_ids:
        raise RoundError("a round needs at least one team (--team TEAM_ID)")
    if spec.closes_at <= spec.opens_at:
        raise RoundError("the round must close after it opens")
    if spec.closes_at <= now:
        raise RoundError("the closing time is already in the past")
    try:
        ReminderPlan.parse(spec.reminder_plan)
    except PlanError as exc:
        raise RoundError(f"reminder plan: {exc}") from None
    teams = _teams_by_teams_id(session, spec.team_ids)
    if missing := [tid for tid in dict.fromkeys(spec.team_ids) if tid not in teams]:
        raise RoundError(
            "the bot is not installed in these teams: "
            + ", ".join(missing)
            + " (see `impact-bot teams list`)"
        )
    round_ = Round(
        name=name,
        framework_id=framework.id,
        framework_version=framework.version,
        status="scheduled",
        opens_at=spec.opens_at,
        closes_at=spec.closes_at,
        reminder_plan=spec.reminder_plan,
        role_question=spec.role_question,
        repeat_every=spec.repeat_every,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(round_)
    session.flush()
    assert round_.id is not None
    for team in teams.values():
        assert team.id is not None
        session.add(RoundTeam(round_id=round_.id, team_id=team.id))
    audit(
        session,
        actor=actor,
        action="round.create",
        target=f"round:{round_.id}",
        detail={
            "name": name,
            "teams": list(teams),
            "opens_at": spec.opens_at,
            "closes_at": spec.closes_at,
        },
        now=now,
    )
    return round_


def get_round(session: Session, round_id: int) -> Round:
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise RoundError(f"there is no round {round_id} (see `impact-bot rounds list`)")
    return round_


def list_rounds(session: Session) -> list[RoundSummary]:
    rounds = session.exec(select(Round).order_by(col(Round.opens_at).desc())).all()
    return [summarise(session, r) for r in rounds]


def summarise(session: Session, round_: Round) -> RoundSummary:
    assert round_.id is not None
    team_names = session.exec(
        select(Team.name)
        .join(RoundTeam, col(RoundTeam.team_id) == col(Team.id))
        .where(RoundTeam.round_id == round_.id)
        .order_by(Team.name)
    ).all()
    participants = session.exec(
        select(sa.func.count())
        .select_from(RoundParticipant)
        .where(RoundParticipant.round_id == round_.id)
    ).one()
    submitted = session.exec(
        select(sa.func.count())
        .select_from(RoundParticipant)
        .join(Assessment, col(Assessment.id) == col(RoundParticipant.assessment_id))
        .where(RoundParticipant.round_id == round_.id, Assessment.status == "submitted")
    ).one()
    assert round_.id is not None
    pending = pending_team_names(session, round_.id)
    return RoundSummary(
        id=round_.id,
        name=round_.name,
        status=round_.status,
        opens_at=round_.opens_at,
        closes_at=round_.closes_at,
        teams=tuple(team_names),
        participants=int(participants),
        submitted=int(submitted),
        pending_teams=pending,
        note=round_note(round_, pending),
    )


def extend_round(
    session: Session, round_id: int, closes_at: datetime, *, actor: str, now: datetime
) -> Round:
    round_ = _changeable(session, round_id)
    if closes_at <= max(now, round_.opens_at):
        raise RoundError("the new closing time must be in the future and after the opening")
    previous = round_.closes_at
    # A later close only moves nudges later, except for people who had none left: the next tick
    # looks at those (store.rounds.steps.recheck_marked_rounds).
    _move(session, round_, closes_at=closes_at, updated_at=now, nudge_recheck_at=now)
    audit(
        session,
        actor=actor,
        action="round.extend",
        target=f"round:{round_id}",
        detail={"from": previous, "to": closes_at},
        now=now,
    )
    return round_


def request_close(session: Session, round_id: int, *, actor: str, now: datetime) -> Round:
    """Close now: the scheduler's close step (results, summaries) runs within seconds."""
    round_ = _changeable(session, round_id)
    _move(session, round_, closes_at=now, updated_at=now)
    audit(session, actor=actor, action="round.close", target=f"round:{round_id}", now=now)
    return round_


def cancel_round(session: Session, round_id: int, *, actor: str, now: datetime) -> Round:
    round_ = _changeable(session, round_id)
    _move(session, round_, status="cancelled", updated_at=now)
    # Nothing more goes out for a cancelled round.
    session.execute(
        sa.update(OutboxMessage)
        .where(col(OutboxMessage.round_id) == round_id, col(OutboxMessage.status) == "pending")
        .values(status="cancelled")
    )
    audit(session, actor=actor, action="round.cancel", target=f"round:{round_id}", now=now)
    return round_


def _changeable(session: Session, round_id: int) -> Round:
    round_ = get_round(session, round_id)
    if round_.status in ("closed", "cancelled"):
        raise RoundError(f"round {round_id} is already {round_.status}")
    return round_


def _move(session: Session, round_: Round, **values: object) -> None:
    """Change the round only if its status is still the one the decision was made on
    (compare-and-set), so that an admin's change racing the scheduler can never overwrite what
    the scheduler did meanwhile: a cancel never turns a closed round into a cancelled one, an
    extension never moves a round that has just closed."""
    seen = round_.status
    moved = session.execute(
        sa.update(Round)
        .where(col(Round.id) == round_.id, col(Round.status) == seen)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        session.expire(round_)
        now_status = session.execute(
            sa.select(col(Round.status)).where(col(Round.id) == round_.id)
        ).scalar_one()
        raise RoundError(f"round {round_.id} is already {now_status}")
    session.refresh(round_)


def _teams_by_teams_id(session: Session, team_ids: Sequence[str]) -> dict[str, Team]:
    rows = session.exec(
        select(Team).where(col(Team.team_id).in_(list(team_ids)), col(Team.installed).is_(True))
    ).all()
    return {team.team_id: team for team in rows}


# ---- opening: freeze the roster, invite everyone (one transaction) ---------------------------


# ---- a participant's own choices: snooze, opt out, reminder preferences ---------------------


def set_repetition(
    session: Session, round_id: int, change: str, *, actor: str, now: datetime
) -> Round:
    """`pause` (no next round is scheduled from this one until resumed), `resume`, or `stop`
    (the series ends here)."""
    round_ = get_round(session, round_id)
    if not round_.repeat_every:
        raise RoundError(f"round {round_id} does not repeat")
    if change == "stop":
        round_.repeat_every = None
    elif change in ("pause", "resume"):
        round_.repeat_paused = change == "pause"
    else:
        raise RoundError(f"unknown change {change!r}: use pause, resume or stop")
    round_.updated_at = now
    audit(
        session, actor=actor, action=f"round.repeat.{change}", target=f"round:{round_id}", now=now
    )
    return round_
