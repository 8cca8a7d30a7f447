"""Opening a round, on sets and in short transactions (each batch well under SQLite's 50 ms):

1. `freeze_people`, once per batch of people while the round is still `scheduled`: people,
   participants and their teams, each an INSERT ... ON CONFLICT DO NOTHING, so a batch run
   twice (after a crash) changes nothing;
2. `mark_open`: the round's move to `open` (compare-and-set) and its rosters frozen;
3. `uninvited` + `record_invitations`, once per batch, until nobody is left: the invitations go
   into the outbox (one INSERT, unique dedupe keys) in the same transaction that stamps
   `invited_at` (one UPDATE per distinct first nudge time). An opening interrupted after step 2
   is finished by the next step that calls `rounds_to_invite` (the nudge tick, every minute
   while a round is open).

Statements per batch are constant, never one per person.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col, select

from framework.identity import TeamMember
from store.audit import audit
from store.bulk import among, insert_ignoring, select_pairs
from store.outbox import Queued, enqueue_many
from store.people import ConversationRef, Person
from store.rounds.tables import (
    Round,
    RoundParticipant,
    RoundParticipantTeam,
    RoundTeam,
)
from store.teams import Team


@dataclass(frozen=True)
class RosterEntry:
    """One person on a round's rosters, with every team of the round they are in."""

    member: TeamMember
    teams: tuple[tuple[int, str], ...]  # (team primary key, their role in that Team)


@dataclass(frozen=True)
class InviteeTeam:
    id: int
    name: str
    service_url: str
    reference: str


@dataclass(frozen=True)
class Invitee:
    """One person to invite on their own (a pending team's roster read late:
    store.rounds.pending.freeze_team)."""

    person_id: int
    teams_user_id: str
    tenant_id: str
    team_names: tuple[str, ...]
    conversation: ConversationRef | None  # their stored 1:1 chat, if any


InvitationWriter = Callable[[Session, Round, Invitee, Team], bool]


@dataclass(frozen=True)
class BatchInvitee:
    """One person of a batch whose invitation is still to be queued (`uninvited`)."""

    participant_id: int
    person_id: int
    teams_user_id: str
    tenant_id: str
    time_zone: str | None
    teams: tuple[InviteeTeam, ...]  # by name
    conversation: ConversationRef | None  # their stored 1:1 chat, if any

    @property
    def team_names(self) -> tuple[str, ...]:
        return tuple(team.name for team in self.teams)


@dataclass(frozen=True)
class Invitation:
    """What the service decided to send one invitee, and the first time to look at them for a
    nudge."""

    participant_id: int
    message: Queued
    next_nudge_at: datetime | None


@dataclass(frozen=True)
class OpenResult:
    round_id: int
    participants: int
    invited: int


def due_to_open(session: Session, now: datetime) -> list[tuple[Round, list[Team]]]:
    rounds = session.exec(
        select(Round).where(Round.status == "scheduled", col(Round.opens_at) <= now)
    ).all()
    return [(r, round_teams(session, r)) for r in rounds]


def round_teams(session: Session, round_: Round) -> list[Team]:
    return list(
        session.exec(
            select(Team)
            .join(RoundTeam, col(RoundTeam.team_id) == col(Team.id))
            .where(RoundTeam.round_id == round_.id)
            .order_by(Team.name)
        ).all()
    )


def roster_entries(rosters: Mapping[int, Sequence[TeamMember]]) -> list[RosterEntry]:
    """Everyone on the rosters once, with all their teams (someone in two teams counts twice)."""
    people: dict[str, TeamMember] = {}
    teams: dict[str, list[tuple[int, str]]] = {}
    for team_pk, members in rosters.items():
        for member in members:
            people.setdefault(member.teams_user_id, member)
            teams.setdefault(member.teams_user_id, []).append((team_pk, member.team_role[:16]))
    return [RosterEntry(member, tuple(teams[user])) for user, member in people.items()]


def _insert_ignoring(
    session: Session, table: sa.Table, rows: list[dict[str, object]], keys: Sequence[str]
) -> None:
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "sqlite":  # a few statements, not one per row (store.bulk)
        insert_ignoring(connection, table, rows, keys)
        return
    # PostgreSQL: one executemany, as before (no GIL hand-off per row to worry about here).
    connection.execute(
        postgresql.insert(table).on_conflict_do_nothing(index_elements=[table.c[k] for k in keys]),
        rows,
    )


_people: sa.Table = Person.__table__  # type: ignore[attr-defined]
_participants: sa.Table = RoundParticipant.__table__  # type: ignore[attr-defined]
_participant_teams: sa.Table = RoundParticipantTeam.__table__  # type: ignore[attr-defined]


def _insert_people(session: Session, entries: Sequence[RosterEntry], now: datetime) -> None:
    """Everyone not yet known as a person (one statement)."""
    _insert_ignoring(
        session,
        _people,
        [
            {
                "tenant_id": e.member.tenant_id,
                "teams_user_id": e.member.teams_user_id,
                "aad_object_id": e.member.aad_object_id,
                "name": e.member.name,
                "created_at": now,
                "updated_at": now,
            }
            for e in entries
        ],
        ("tenant_id", "teams_user_id"),
    )


def _person_ids(session: Session, entries: Sequence[RosterEntry]) -> dict[tuple[str, str], int]:
    """(tenant id, Teams user id) → person id, one query per tenant."""
    by_tenant: dict[str, list[str]] = {}
    for entry in entries:
        by_tenant.setdefault(entry.member.tenant_id, []).append(entry.member.teams_user_id)
    person_ids: dict[tuple[str, str], int] = {}
    for tenant, users in by_tenant.items():
        rows = select_pairs(
            session.connection(),
            _people.c.id,
            _people.c.teams_user_id,
            _people.c.tenant_id == tenant,
            _people.c.teams_user_id.in_(users),
        )
        person_ids.update({(tenant, user): pid for pid, user in rows})
    return person_ids


def _insert_participants(
    session: Session, round_id: int, person_ids: Sequence[int]
) -> dict[int, int]:
    """Put these people on the round's roster (one statement); person id → participant id."""
    _insert_ignoring(
        session,
        _participants,
        [
            {
                "round_id": round_id,
                "person_id": pid,
                "nudges_sent": 0,
                "opted_out": False,
            }
            for pid in person_ids
        ],
        ("round_id", "person_id"),
    )
    return dict(
        select_pairs(
            session.connection(),
            _participants.c.person_id,
            _participants.c.id,
            _participants.c.round_id == round_id,
            _participants.c.person_id.in_(list(person_ids)),
        )
    )


def freeze_people(
    session: Session, round_id: int, entries: Sequence[RosterEntry], now: datetime
) -> None:
    """Put a batch of people on a round's roster: five statements whatever the batch's size,
    and nothing changed when run again."""
    _insert_people(session, entries, now)
    person_ids = _person_ids(session, entries)
    participant_ids = _insert_participants(session, round_id, list(person_ids.values()))
    _insert_ignoring(
        session,
        _participant_teams,
        [
            {
                "participant_id": participant_ids[
                    person_ids[(e.member.tenant_id, e.member.teams_user_id)]
                ],
                "team_id": team_pk,
                "team_role": role,
            }
            for e in entries
            for team_pk, role in e.teams
        ],
        ("participant_id", "team_id"),
    )


def mark_open(
    session: Session, round_id: int, frozen_teams: Iterable[int], participants: int, now: datetime
) -> bool:
    """Move the round to `open` (compare-and-set) with its read rosters frozen; False if it was
    no longer scheduled (another process opened it, or someone cancelled it)."""
    moved = session.execute(
        sa.update(Round)
        .where(col(Round.id) == round_id, col(Round.status) == "scheduled")
        .values(status="open", opened_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.execute(
        sa.update(RoundTeam)
        .where(col(RoundTeam.round_id) == round_id, col(RoundTeam.team_id).in_(list(frozen_teams)))
        .values(roster_frozen_at=now)
    )
    audit(
        session,
        actor="scheduler",
        action="round.open",
        target=f"round:{round_id}",
        detail={"participants": participants},
        now=now,
    )
    return True


def open_round(
    session: Session,
    round_id: int,
    rosters: Mapping[int, Sequence[TeamMember]],
    *,
    now: datetime,
    invite: Callable[..., bool] | None = None,
) -> OpenResult | None:
    """Freeze the rosters and open the round in the caller's one transaction, for small rounds
    and tests; the invitations are queued by `record_invitations` (the opener's batches).
    `invite` is accepted from callers written for the one-transaction opening, and not used."""
    del invite
    entries = roster_entries(rosters)
    freeze_people(session, round_id, entries, now)
    if not mark_open(session, round_id, rosters, len(entries), now):
        return None
    return OpenResult(round_id, len(entries), 0)


def rounds_to_invite(session: Session) -> list[Round]:
    """Open rounds with people whose invitation is still to be queued."""
    waiting = (
        sa.select(_participants.c.id)
        .where(_participants.c.round_id == col(Round.id), _participants.c.invited_at.is_(None))
        .exists()
    )
    return list(session.exec(select(Round).where(Round.status == "open", waiting)).all())


def uninvited(
    session: Session, round_id: int, limit: int, *, after: int | None = None
) -> list[BatchInvitee]:
    """Up to `limit` people of the round whose invitation is still to be queued, in participant
    id order (after participant `after`, if given: the next batch can be read while the one
    before it, all at or before `after`, is still being written): three queries."""
    query = (
        sa.select(
            _participants.c.id,
            _participants.c.person_id,
            _people.c.teams_user_id,
            _people.c.tenant_id,
            _people.c.time_zone,
        )
        .join(_people, _people.c.id == _participants.c.person_id)
        .where(_participants.c.round_id == round_id, _participants.c.invited_at.is_(None))
        .order_by(_participants.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(_participants.c.id > after)
    rows = session.execute(query).all()
    if not rows:
        return []
    ids = [row[0] for row in rows]
    teams: dict[int, list[InviteeTeam]] = {}
    for participant_id, team_pk, name, service_url, reference in session.execute(
        sa.select(
            col(RoundParticipantTeam.participant_id),
            col(Team.id),
            col(Team.name),
            col(Team.service_url),
            col(Team.reference),
        )
        .join(Team, col(Team.id) == col(RoundParticipantTeam.team_id))
        .where(among(col(RoundParticipantTeam.participant_id), ids, session.get_bind().dialect))
        .order_by(col(Team.name))
    ).all():
        teams.setdefault(participant_id, []).append(
            InviteeTeam(team_pk, name, service_url, reference)
        )
    chats = personal_chats(session, [row[1] for row in rows])
    return [
        BatchInvitee(
            participant_id=pid,
            person_id=person_id,
            teams_user_id=user,
            tenant_id=tenant,
            time_zone=zone,
            teams=tuple(teams.get(pid, ())),
            conversation=chats.get(person_id),
        )
        for pid, person_id, user, tenant, zone in rows
    ]


def personal_chats(session: Session, person_ids: Sequence[int]) -> dict[int, ConversationRef]:
    """Each person's 1:1 chat with the bot (the latest stored), in one query."""
    rows = session.exec(
        select(ConversationRef)
        .where(among(col(ConversationRef.person_id), person_ids, session.get_bind().dialect))
        .where(ConversationRef.scope == "personal")
        .order_by(col(ConversationRef.id))
    ).all()
    return {row.person_id: row for row in rows if row.person_id is not None}


def record_invitations(
    session: Session, round_id: int, invitations: Sequence[Invitation], now: datetime
) -> int:
    """Queue a batch of invitations and stamp the invitees: one INSERT, and one UPDATE per
    distinct first nudge time (one per time zone in the batch, usually one), never one per
    person: on SQLite each row a statement steps through hands the GIL to the event loop while
    the write lock is held. How many messages were new (a batch run twice queues nothing the
    second time)."""
    if not invitations:
        return 0
    queued = enqueue_many(session, (i.message for i in invitations), now=now)
    by_first_nudge: dict[datetime | None, list[int]] = {}
    for invitation in invitations:
        by_first_nudge.setdefault(invitation.next_nudge_at, []).append(invitation.participant_id)
    connection = session.connection()
    for next_nudge_at, participant_ids in by_first_nudge.items():
        connection.execute(
            sa.update(_participants)
            .where(
                _participants.c.id.in_(participant_ids),
                _participants.c.round_id == round_id,
                _participants.c.invited_at.is_(None),
            )
            .values(invited_at=now, next_nudge_at=next_nudge_at)
        )
    return queued
