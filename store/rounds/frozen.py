"""A closed round's results, computed once when it closes and frozen: every later view (summary,
Full results, charts) and export (Teams, CLI) reads these rows, so two exports of a closed round
are identical byte for byte, whatever happens after the close (a late answer, a role changed, a
setting changed).

The close step computes them in a read snapshot and stores them after
(rounds.services.steps.freeze_results): on SQLite in parts, the round's own row last, since that
row is what marks a round frozen. `freeze_round_results` is idempotent: a round already frozen
keeps its rows (a round closed before this table existed is frozen on its first read). Rows
hold aggregates only, as `rounds.rules.frozen` writes them: suppressed groups hold their reason,
never figures, and no row names a person.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, select

from framework.content import Framework
from rounds.rules.frozen import ROUND_SCOPE, from_rows, to_rows
from rounds.rules.results import RoundResults
from store.bulk import insert_ignoring
from store.rounds.results import RoundNotFound, compute_round_results
from store.rounds.tables import Round
from store.types import timestamp_column

__all__ = [
    "FrozenResult",
    "RoundNotClosed",
    "RoundNotFound",
    "delete_frozen_results",
    "freeze_round_results",
    "frozen_evidence",
    "frozen_results",
    "has_frozen_results",
    "in_freezing_order",
    "results_frozen",
    "results_of_closed_round",
    "save_results_part",
]


class FrozenResult(SQLModel, table=True):
    """One scope of a closed round's results (the round, a team, a role group in a team) as
    canonical JSON."""

    __tablename__ = "round_results_frozen"

    round_id: int = Field(foreign_key="rounds.id", primary_key=True)
    scope: str = Field(primary_key=True, max_length=64)
    payload: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    frozen_at: datetime = Field(sa_column=timestamp_column())


_frozen: sa.Table = FrozenResult.__table__  # type: ignore[attr-defined]


class RoundNotClosed(Exception):
    """Group results exist only for closed rounds."""

    def __init__(self, round_id: int, status: str, closes_at: datetime) -> None:
        super().__init__(f"round {round_id} is {status}: its results exist only once it closes")
        self.round_id = round_id
        self.status = status
        self.closes_at = closes_at


# The bot's other records beside a team's answers (huddles for question 18), as of the close.
Evidence = Callable[[int], Sequence[tuple[int, str]]]


def _evidence_scope(team_id: int) -> str:
    return f"evidence:team:{team_id}"


def frozen_results(session: Session, round_id: int) -> RoundResults | None:
    """The round's frozen results, or None if it has none (or a freeze in parts has not
    written its last part: `save_results_part`)."""
    rows = session.exec(
        select(FrozenResult.scope, FrozenResult.payload).where(FrozenResult.round_id == round_id)
    ).all()
    found = {scope: payload for scope, payload in rows if not scope.startswith("ev")}
    if ROUND_SCOPE not in found:
        return None
    return from_rows(found)


def results_frozen(round_id: int | sa.ColumnElement[int]) -> sa.Exists:
    """EXISTS: the round has frozen results (a round id, or the id column of an enclosing query
    on rounds): its own row, which a freeze in parts writes last."""
    return (
        sa.select(_frozen.c.round_id)
        .where(_frozen.c.round_id == round_id, _frozen.c.scope == ROUND_SCOPE)
        .exists()
    )


def has_frozen_results(session: Session, round_id: int) -> bool:
    """Whether the round's results are frozen, without reading them."""
    return bool(session.execute(sa.select(results_frozen(round_id))).scalar_one())


def frozen_evidence(
    session: Session, round_id: int, team_id: int
) -> tuple[tuple[int, str], ...] | None:
    """The evidence shown beside a team's results, as frozen with them (None if none was)."""
    row = session.get(FrozenResult, (round_id, _evidence_scope(team_id)))
    if row is None:
        return None
    return tuple((int(number), str(line)) for number, line in json.loads(row.payload))


def freeze_round_results(
    session: Session,
    round_id: int,
    *,
    framework: Framework,
    min_group: int,
    min_comment_group: int,
    now: datetime,
    evidence: Evidence | None = None,
) -> RoundResults:
    """Compute and store the round's results, once; the stored results either way.

    The previous round's figures (change since then) come from its own frozen results when it
    has them, so they too never change; `evidence` (per team) is frozen beside them."""
    existing = frozen_results(session, round_id)
    if existing is not None:
        return existing
    rows = results_rows(
        session,
        round_id,
        framework=framework,
        min_group=min_group,
        min_comment_group=min_comment_group,
        evidence=evidence,
    )
    return store_results_rows(session, round_id, rows, now)


def results_rows(
    session: Session,
    round_id: int,
    *,
    framework: Framework,
    min_group: int,
    min_comment_group: int,
    evidence: Evidence | None = None,
) -> dict[str, str]:
    """The rows a closed round's results are frozen as, computed and not stored: a read, which
    the close runs in a snapshot beside the writer (store_results_rows then writes them)."""
    results = compute_round_results(
        session,
        round_id,
        framework=framework,
        min_group=min_group,
        min_comment_group=min_comment_group,
    )
    if results.previous_round_id is not None:
        previous = frozen_results(session, results.previous_round_id)
        if previous is not None:
            results = _with_previous(results, previous)
    rows = to_rows(results)
    if evidence is not None:
        for team in results.teams:
            facts = [[number, line] for number, line in evidence(team.team_id)]
            rows[_evidence_scope(team.team_id)] = json.dumps(facts, ensure_ascii=False)
    return rows


def store_results_rows(
    session: Session, round_id: int, rows: dict[str, str], now: datetime
) -> RoundResults:
    """Store computed rows as the round's frozen results, unless another process froze them
    first (theirs stand); the stored results either way."""
    save_results_rows(session, round_id, rows, now)
    frozen = frozen_results(session, round_id)
    assert frozen is not None
    return frozen


def save_results_rows(session: Session, round_id: int, rows: dict[str, str], now: datetime) -> bool:
    """Store computed rows as the round's frozen results, unless another process froze them
    first (theirs stand, and False): nothing read back, so the close's write stays short.

    On SQLite the rows go in one multi-row INSERT (store.bulk), not an executemany: each of a
    trust's ~1,800 rows was a GIL hand-off while the close held the write lock (46-68 ms in
    benchmarks/trust_scale.py, 30 November). The lock is held from BEGIN IMMEDIATE, so nobody
    can freeze between the check and the insert. On PostgreSQL a conflicting insert fails
    whole (the savepoint), as a second freeze there may run at the same moment. Rows a freeze
    in parts left without its last part (`save_results_part`) are removed first."""
    if not rows:
        return False
    if session.connection().dialect.name == "sqlite":  # a freeze in one part
        return save_results_part(session, round_id, in_freezing_order(rows), now, first=True)
    try:
        with session.begin_nested():
            _remove_unfinished(session, round_id)  # another's uncommitted rows: not seen
            session.execute(sa.insert(FrozenResult), _stored(round_id, sorted(rows.items()), now))
    except sa.exc.IntegrityError:  # another process froze it first: theirs stand
        return False
    return True


def in_freezing_order(rows: Mapping[str, str]) -> list[tuple[str, str]]:
    """The rows as a freeze in parts writes them (`save_results_part`): the round's own row
    last, since it is what marks the results frozen (`results_frozen`)."""
    return sorted(rows.items(), key=lambda row: (row[0] == ROUND_SCOPE, row[0]))


def save_results_part(
    session: Session,
    round_id: int,
    part: Sequence[tuple[str, str]],
    now: datetime,
    *,
    first: bool,
) -> bool:
    """SQLite: one transaction of a freeze written in parts, in `in_freezing_order`. A trust's
    ~1,800 rows (2-3 MB) in one transaction held the write lock 15-54 ms at the close
    (benchmarks/trust_scale.py, 1 December), against a target of 50. Until the last part
    writes the round's own row nothing reads them as frozen. The first part first removes what
    a freeze stopped half-way left: those rows may have been computed under other settings, and
    the anonymity rules hold within one computation's decisions. False, and nothing written, if
    the round's results are frozen already."""
    if has_frozen_results(session, round_id):
        return False
    if first:
        _remove_unfinished(session, round_id)
    insert_ignoring(
        session.connection(), _frozen, _stored(round_id, part, now), ("round_id", "scope")
    )
    return True


def _stored(
    round_id: int, rows: Sequence[tuple[str, str]], now: datetime
) -> list[dict[str, object]]:
    """Rows of the table, from (scope, payload) pairs."""
    return [
        {"round_id": round_id, "scope": scope, "payload": payload, "frozen_at": now}
        for scope, payload in rows
    ]


def _remove_unfinished(session: Session, round_id: int) -> None:
    """The rows of a freeze in parts that stopped before its last part, the round's own row:
    none if that row is there (on PostgreSQL, as committed when the statement began)."""
    session.execute(
        sa.delete(_frozen).where(_frozen.c.round_id == round_id, ~results_frozen(round_id))
    )


def _with_previous(results: RoundResults, previous: RoundResults) -> RoundResults:
    by_team = {t.team_id: t.figures for t in previous.teams}
    teams = tuple(
        dataclasses.replace(t, previous_figures=by_team.get(t.team_id)) for t in results.teams
    )
    return dataclasses.replace(results, teams=teams, previous_round_name=previous.name)


def results_of_closed_round(
    session: Session,
    round_id: int,
    *,
    framework: Framework,
    min_group: int,
    min_comment_group: int,
    now: datetime,
    evidence: Evidence | None = None,
) -> RoundResults:
    """The group results of a closed round (frozen at its close); RoundNotClosed for any other
    round: while a round is open only its response counts are shown. LookupError if none."""
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise RoundNotFound(f"no round {round_id}")
    if round_.status != "closed":
        raise RoundNotClosed(round_id, round_.status, round_.closes_at)
    return freeze_round_results(
        session,
        round_id,
        framework=framework,
        min_group=min_group,
        min_comment_group=min_comment_group,
        now=now,
        evidence=evidence,
    )


def delete_frozen_results(session: Session, round_id: int) -> int:
    """Remove a round's frozen results (for retention of a whole round); the rows removed."""
    result = session.execute(sa.delete(FrozenResult).where(col(FrozenResult.round_id) == round_id))
    return int(result.rowcount)  # type: ignore[attr-defined]
