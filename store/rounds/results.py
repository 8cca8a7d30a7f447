"""A round's results, counted by the database.

Every figure comes from GROUP BY counts: how many answers at each level per question, for the
whole round, per team and per (team, role group); roster and submitted counts per team; and how
many respondents there are per (set of teams, role group), which is all the anonymity rules need.
No answer row is read into Python. The one exception is comments, which are text: they are read
only for teams whose comments may be shown, without who wrote them or their role.

Portable SQLAlchemy Core, run on SQLite and PostgreSQL. Expressions that are grouped on (the role
group) are computed in a subquery and grouped by its column, so PostgreSQL, which binds
parameters server-side, sees one expression rather than two copies with different placeholders.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from framework.content import Framework
from rounds.rules.histogram import LevelHistogram
from rounds.rules.results import ROLE_GROUPS, Comment, RoundResults
from rounds.rules.round_results import RoundData, TeamData, build_round_results, decide_round
from store.assessments.tables import Answer, Assessment
from store.rounds.tables import Round, RoundParticipant, RoundParticipantTeam, RoundTeam
from store.teams import Team

__all__ = ["RoundNotFound", "compute_round_results", "load_round_data"]

_rounds = sa.inspect(Round).local_table
_teams = sa.inspect(Team).local_table
_round_teams = sa.inspect(RoundTeam).local_table
_participants = sa.inspect(RoundParticipant).local_table
_participant_teams = sa.inspect(RoundParticipantTeam).local_table
_assessments = sa.inspect(Assessment).local_table
_answers = sa.inspect(Answer).local_table


class RoundNotFound(LookupError):
    pass


def _role_group_expression() -> sa.ColumnElement[str | None]:
    whens = [
        (_participants.c.role.in_(roles), sa.literal(key))
        for key, (_, roles) in ROLE_GROUPS.items()
    ]
    return sa.case(*whens, else_=sa.null())


def _submitted_condition() -> sa.ColumnElement[bool]:
    """A participant's result: their submitted assessment in this round (the one linked to their
    roster row when it is linked)."""
    p, a = _participants.c, _assessments.c
    return sa.and_(
        a.person_id == p.person_id,
        a.round_id == p.round_id,
        a.status == "submitted",
        sa.or_(p.assessment_id.is_(None), a.id == p.assessment_id),
    )


def _respondents(round_id: int) -> sa.Subquery:
    """One row per participant who submitted: participant id, assessment id, role group."""
    return (
        sa.select(
            _participants.c.id.label("participant_id"),
            _assessments.c.id.label("assessment_id"),
            _role_group_expression().label("role_group"),
        )
        .select_from(_participants.join(_assessments, _submitted_condition()))
        .where(_participants.c.round_id == round_id)
        .subquery("respondents")
    )


def _histograms(
    rows: sa.Result[Any], questions: frozenset[int]
) -> dict[tuple[Any, ...], LevelHistogram]:
    """Rows of (*key, question number, level, count) → {key: histogram}, for the framework's
    `questions` only (see `_answered_condition`)."""
    levels: dict[tuple[Any, ...], dict[int, int]] = defaultdict(dict)
    for row in rows:
        *key, level, count = tuple(row)
        if key[-1] in questions:
            levels[tuple(key)][int(level)] = int(count)
    return {key: LevelHistogram.from_levels(by_level) for key, by_level in levels.items()}


def _round_row(
    connection: sa.Connection, round_id: int, framework: Framework
) -> sa.Row[Any, Any, Any, Any]:
    """The round's own columns; the round must exist and use `framework`."""
    round_row = connection.execute(
        sa.select(
            _rounds.c.name,
            _rounds.c.role_question,
            _rounds.c.previous_round_id,
            _rounds.c.framework_id,
        ).where(_rounds.c.id == round_id)
    ).one_or_none()
    if round_row is None:
        raise RoundNotFound(f"no round {round_id}")
    if round_row.framework_id != framework.id:
        raise ValueError(
            f"round {round_id} used framework {round_row.framework_id!r}, not {framework.id!r}"
        )
    return round_row


def _team_counts(
    connection: sa.Connection, round_id: int, respondents: sa.Subquery
) -> dict[int, tuple[int, int]]:
    """(roster, submitted) per team of the frozen roster (round_participants).

    Two grouped counts: one LEFT JOIN on the submitted condition's OR made SQLite compare every
    roster row with every assessment (30 s for 15,000 people).
    """
    p, pt = _participants.c, _participant_teams.c
    rosters = connection.execute(
        sa.select(pt.team_id, sa.func.count(sa.distinct(p.id)))
        .select_from(_participants.join(_participant_teams, pt.participant_id == p.id))
        .where(p.round_id == round_id)
        .group_by(pt.team_id)
    ).all()
    submitted_per_team: dict[int, int] = dict(
        connection.execute(
            sa.select(pt.team_id, sa.func.count(sa.distinct(respondents.c.assessment_id)))
            .select_from(
                respondents.join(
                    _participant_teams, pt.participant_id == respondents.c.participant_id
                )
            )
            .group_by(pt.team_id)
        ).all()
    )
    return {
        team_id: (int(roster), int(submitted_per_team.get(team_id, 0)))
        for team_id, roster in rosters
    }


def _teams_data(
    connection: sa.Connection, round_id: int, respondents: sa.Subquery
) -> tuple[TeamData, ...]:
    """The round's listed teams and the roster's teams, with their counts, sorted by name."""
    counts = _team_counts(connection, round_id, respondents)
    listed = connection.execute(
        sa.select(_round_teams.c.team_id).where(_round_teams.c.round_id == round_id)
    ).scalars()
    team_ids = set(listed) | set(counts)
    names: dict[int, str] = {
        row.id: row.name
        for row in connection.execute(
            sa.select(_teams.c.id, _teams.c.name).where(_teams.c.id.in_(team_ids))
        )
    }
    return tuple(
        TeamData(
            team_id=t,
            name=names.get(t, "") or f"Team {t}",
            roster=counts.get(t, (0, 0))[0],
            submitted=counts.get(t, (0, 0))[1],
        )
        for t in sorted(team_ids, key=lambda t: ((names.get(t) or "").casefold(), t))
    )


def _respondent_cells(
    connection: sa.Connection, respondents: sa.Subquery
) -> Counter[tuple[frozenset[int], str | None]]:
    """Respondents per (set of teams, role group): a string of team ids per participant (the
    order inside the string is up to the database, so equal sets are merged afterwards)."""
    pt = _participant_teams.c
    per_participant = (
        sa.select(
            respondents.c.participant_id,
            respondents.c.role_group,
            sa.func.aggregate_strings(sa.cast(pt.team_id, sa.String), ",").label("team_ids"),
        )
        .select_from(
            respondents.outerjoin(
                _participant_teams, pt.participant_id == respondents.c.participant_id
            )
        )
        .group_by(respondents.c.participant_id, respondents.c.role_group)
        .subquery("per_participant")
    )
    cell_rows = connection.execute(
        sa.select(
            per_participant.c.team_ids, per_participant.c.role_group, sa.func.count()
        ).group_by(per_participant.c.team_ids, per_participant.c.role_group)
    ).all()
    cells: Counter[tuple[frozenset[int], str | None]] = Counter()
    for team_list, role_group, count in cell_rows:
        members = frozenset(int(t) for t in (team_list or "").split(",") if t)
        cells[(members, role_group)] += int(count)
    return cells


def _answered_condition(respondents: sa.Subquery) -> sa.ColumnElement[bool]:
    """An answer with a level, by a respondent. Answers to questions outside the framework are
    counted in groups of their own, which `_histograms` drops: a `question_number IN (...)` of
    22 numbers here was tested on every one of a trust's 200,000 answers, and made each
    histogram query take twice as long on PostgreSQL (370 against 185 ms for the role groups',
    benchmarks/trust_scale.py's database)."""
    ans = _answers.c
    return sa.and_(ans.assessment_id == respondents.c.assessment_id, ans.level.is_not(None))


def _round_histograms(
    connection: sa.Connection,
    respondents: sa.Subquery,
    answered: sa.ColumnElement[bool],
    questions: frozenset[int],
) -> dict[int, LevelHistogram]:
    """Histogram per question for the whole round."""
    ans = _answers.c
    histograms = _histograms(
        connection.execute(
            sa.select(ans.question_number, ans.level, sa.func.count())
            .select_from(respondents.join(_answers, answered))
            .group_by(ans.question_number, ans.level)
        ),
        questions,
    )
    return {int(k[0]): h for k, h in histograms.items()}


def _team_histograms(
    connection: sa.Connection,
    respondents: sa.Subquery,
    answered: sa.ColumnElement[bool],
    questions: frozenset[int],
) -> dict[tuple[int, int], LevelHistogram]:
    """Histogram per (team, question)."""
    pt, ans = _participant_teams.c, _answers.c
    histograms = _histograms(
        connection.execute(
            sa.select(pt.team_id, ans.question_number, ans.level, sa.func.count())
            .select_from(
                respondents.join(_answers, answered).join(
                    _participant_teams, pt.participant_id == respondents.c.participant_id
                )
            )
            .group_by(pt.team_id, ans.question_number, ans.level)
        ),
        questions,
    )
    return {(int(k[0]), int(k[1])): h for k, h in histograms.items()}


def _role_histograms(
    connection: sa.Connection,
    respondents: sa.Subquery,
    answered: sa.ColumnElement[bool],
    questions: frozenset[int],
) -> dict[tuple[int, str, int], LevelHistogram]:
    """Histogram per (team, role group, question), for respondents with a role group."""
    pt, ans = _participant_teams.c, _answers.c
    histograms = _histograms(
        connection.execute(
            sa.select(
                pt.team_id,
                respondents.c.role_group,
                ans.question_number,
                ans.level,
                sa.func.count(),
            )
            .select_from(
                respondents.join(_answers, answered).join(
                    _participant_teams, pt.participant_id == respondents.c.participant_id
                )
            )
            .where(respondents.c.role_group.is_not(None))
            .group_by(pt.team_id, respondents.c.role_group, ans.question_number, ans.level)
        ),
        questions,
    )
    return {(int(t), str(r), int(q)): h for (t, r, q), h in histograms.items()}


def load_round_data(session: Session, round_id: int, *, framework: Framework) -> RoundData:
    """Everything the results need, as counts and histograms."""
    connection = session.connection()
    round_row = _round_row(connection, round_id, framework)
    respondents = _respondents(round_id)
    teams = _teams_data(connection, round_id, respondents)
    roster = connection.execute(
        sa.select(sa.func.count(_participants.c.id)).where(_participants.c.round_id == round_id)
    ).scalar_one()
    cells = _respondent_cells(connection, respondents)
    answered = _answered_condition(respondents)
    questions = frozenset(q.number for q in framework.questions)
    return RoundData(
        round_id=round_id,
        name=round_row.name,
        role_question=bool(round_row.role_question),
        previous_round_id=round_row.previous_round_id,
        roster=int(roster),
        teams=teams,
        respondents=dict(cells),
        round_histograms=_round_histograms(connection, respondents, answered, questions),
        team_histograms=_team_histograms(connection, respondents, answered, questions),
        role_histograms=(
            _role_histograms(connection, respondents, answered, questions)
            if round_row.role_question
            else {}
        ),
    )


def _load_comments(
    session: Session, round_id: int, team_ids: tuple[int, ...], *, framework: Framework
) -> dict[int, list[Comment]]:
    """Comments of the given teams only: question and text, nothing about who."""
    if not team_ids:
        return {}
    respondents = _respondents(round_id)
    pt, ans = _participant_teams.c, _answers.c
    rows = session.connection().execute(
        sa.select(pt.team_id, ans.question_number, ans.comment)
        .select_from(
            respondents.join(_answers, ans.assessment_id == respondents.c.assessment_id).join(
                _participant_teams, pt.participant_id == respondents.c.participant_id
            )
        )
        .where(
            pt.team_id.in_(team_ids),
            ans.comment.is_not(None),
            sa.func.trim(ans.comment) != "",
            ans.question_number.in_([q.number for q in framework.questions]),
        )
    )
    comments: dict[int, list[Comment]] = defaultdict(list)
    for team_id, number, text in rows:
        comments[int(team_id)].append(Comment(int(number), str(text).strip()))
    return dict(comments)


def compute_round_results(
    session: Session,
    round_id: int,
    *,
    framework: Framework,
    min_group: int,
    min_comment_group: int,
    with_previous: bool = True,
) -> RoundResults:
    """A round's results with the anonymity rules applied (see rounds.rules.anonymity).

    With `with_previous`, the previous round (`rounds.previous_round_id`) is computed too, under
    its own anonymity decisions, for the change per component.
    """
    data = load_round_data(session, round_id, framework=framework)
    decisions = decide_round(data, min_group=min_group, min_comment_group=min_comment_group)
    comments = _load_comments(session, round_id, decisions.comments_allowed(), framework=framework)
    previous = None
    if with_previous and data.previous_round_id is not None:
        try:
            previous = compute_round_results(
                session,
                data.previous_round_id,
                framework=framework,
                min_group=min_group,
                min_comment_group=min_comment_group,
                with_previous=False,
            )
        except RoundNotFound:
            previous = None
    return build_round_results(
        framework,
        data,
        min_group=min_group,
        min_comment_group=min_comment_group,
        decisions=decisions,
        comments=comments,
        previous=previous,
    )
