"""Strategic aims, measurable goals and national targets as stored: recording, changing,
removing and listing them, each change audited.

Functions take an open session (one transaction). An aim, a goal under one aim and a national
target are recorded once: the same title again (case aside) is refused. Who may act is decided
by the caller and recorded by it; these record the change itself (`alignment.<record>.<change>`).
Text is checked by alignment.rules.records; problems raise `AlignmentError` with a message fit to
show a person.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

from alignment.rules.matrix import AlignmentError
from alignment.rules.records import clean_title
from store.alignment.tables import (
    TITLE_CHARS,
    AlignmentLink,
    MeasurableGoal,
    NationalTarget,
    NationalTargetGoal,
    StrategicAim,
)
from store.audit import audit


@dataclass(frozen=True)
class TargetRecord:
    """A national target with the goals it bears on."""

    id: int
    title: str
    goal_ids: tuple[int, ...]


# ---- one title, recorded once ---------------------------------------------------------------


def title_key(title: str) -> str:
    """What makes two titles the same: case and spacing aside (titles are cleaned first)."""
    return title.casefold()[:TITLE_CHARS]


def _insert(session: Session, row: SQLModel, already: Callable[[], str | None]) -> None:
    """Insert `row`, refusing a duplicate: `already()` says which record has its title (checked
    first, and again if the database's unique constraint fires for a racing transaction)."""
    if (existing := already()) is not None:
        raise AlignmentError(existing)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except sa.exc.IntegrityError:
        raise AlignmentError(already() or "That is already recorded.") from None


def _aim_named(session: Session, title: str, other_than: int | None = None) -> str | None:
    found = session.exec(
        select(StrategicAim).where(StrategicAim.title_key == title_key(title))
    ).first()
    if found is None or found.id == other_than:
        return None
    return f"There is already an aim '{found.title}' (aim {found.id})."


def _goal_named(
    session: Session, aim_id: int, title: str, other_than: int | None = None
) -> str | None:
    found = session.exec(
        select(MeasurableGoal).where(
            MeasurableGoal.aim_id == aim_id, MeasurableGoal.title_key == title_key(title)
        )
    ).first()
    if found is None or found.id == other_than:
        return None
    return f"Aim {aim_id} already has the goal '{found.title}' (goal {found.id})."


def _target_named(session: Session, title: str, other_than: int | None = None) -> str | None:
    found = session.exec(
        select(NationalTarget).where(NationalTarget.title_key == title_key(title))
    ).first()
    if found is None or found.id == other_than:
        return None
    return f"There is already a national target '{found.title}' (target {found.id})."


def _refuse(problem: str | None) -> None:
    if problem is not None:
        raise AlignmentError(problem)


# ---- aims ----------------------------------------------------------------------------------


def get_aim(session: Session, aim_id: int) -> StrategicAim:
    aim = session.get(StrategicAim, aim_id)
    if aim is None:
        raise AlignmentError(f"There is no aim {aim_id}.")
    return aim


def list_aims(session: Session) -> list[StrategicAim]:
    return list(session.exec(select(StrategicAim).order_by(col(StrategicAim.id))).all())


def add_aim(session: Session, title: str, *, actor: str, now: datetime) -> StrategicAim:
    cleaned = clean_title(title, "aim's title")
    aim = StrategicAim(
        title=cleaned, title_key=title_key(cleaned), created_by=actor, created_at=now,
        updated_at=now,
    )  # fmt: skip
    _insert(session, aim, lambda: _aim_named(session, cleaned))
    audit(session, actor=actor, action="alignment.aim.add", target=f"aim:{aim.id}",
          detail={"title": aim.title}, now=now)  # fmt: skip
    return aim


def rename_aim(
    session: Session, aim_id: int, title: str, *, actor: str, now: datetime
) -> StrategicAim:
    aim = get_aim(session, aim_id)
    cleaned = clean_title(title, "aim's title")
    _refuse(_aim_named(session, cleaned, other_than=aim_id))
    before, aim.title, aim.title_key, aim.updated_at = aim.title, cleaned, title_key(cleaned), now
    audit(session, actor=actor, action="alignment.aim.rename", target=f"aim:{aim_id}",
          detail={"from": before, "to": aim.title}, now=now)  # fmt: skip
    return aim


def remove_aim(session: Session, aim_id: int, *, actor: str, now: datetime) -> None:
    """Refused while goals track the aim: nothing is removed that someone did not name."""
    aim = get_aim(session, aim_id)
    goals = session.exec(
        select(sa.func.count()).select_from(MeasurableGoal).where(MeasurableGoal.aim_id == aim_id)
    ).one()
    if goals:
        them = "it" if goals == 1 else "them"
        raise AlignmentError(
            f"Aim {aim_id} still has {_plural(goals, 'goal')}: remove {them} or move {them} to "
            "another aim first."
        )
    session.delete(aim)
    audit(session, actor=actor, action="alignment.aim.remove", target=f"aim:{aim_id}",
          detail={"title": aim.title}, now=now)  # fmt: skip


# ---- goals ---------------------------------------------------------------------------------


def get_goal(session: Session, goal_id: int) -> MeasurableGoal:
    goal = session.get(MeasurableGoal, goal_id)
    if goal is None:
        raise AlignmentError(f"There is no goal {goal_id}.")
    return goal


def list_goals(session: Session, aim_id: int | None = None) -> list[MeasurableGoal]:
    query = select(MeasurableGoal).order_by(col(MeasurableGoal.id))
    if aim_id is not None:
        query = query.where(MeasurableGoal.aim_id == aim_id)
    return list(session.exec(query).all())


def add_goal(
    session: Session, aim_id: int, title: str, measure: str | None, *, actor: str, now: datetime
) -> MeasurableGoal:
    get_aim(session, aim_id)
    cleaned = clean_title(title, "goal's title")
    goal = MeasurableGoal(
        aim_id=aim_id,
        title=cleaned,
        title_key=title_key(cleaned),
        measure=_measure(measure),
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    _insert(session, goal, lambda: _goal_named(session, aim_id, cleaned))
    audit(session, actor=actor, action="alignment.goal.add", target=f"goal:{goal.id}",
          detail={"aim": aim_id, "title": goal.title, "measure": goal.measure},
          now=now)  # fmt: skip
    return goal


@dataclass(frozen=True)
class GoalChange:
    """What to change on a goal; None leaves a field as it is (`clear_measure` forgets it)."""

    title: str | None = None
    measure: str | None = None
    clear_measure: bool = False
    aim_id: int | None = None


def update_goal(
    session: Session, goal_id: int, change: GoalChange, *, actor: str, now: datetime
) -> MeasurableGoal:
    goal = get_goal(session, goal_id)
    detail: dict[str, object] = {}
    title = goal.title if change.title is None else clean_title(change.title, "goal's title")
    aim_id = goal.aim_id if change.aim_id is None else change.aim_id
    if aim_id != goal.aim_id:
        get_aim(session, aim_id)
        detail["aim"] = {"from": goal.aim_id, "to": aim_id}
    if title != goal.title:
        detail["title"] = {"from": goal.title, "to": title}
    _refuse(_goal_named(session, aim_id, title, other_than=goal_id))
    goal.aim_id, goal.title, goal.title_key = aim_id, title, title_key(title)
    if change.measure is not None or change.clear_measure:
        measure = None if change.clear_measure else _measure(change.measure)
        detail["measure"] = {"from": goal.measure, "to": measure}
        goal.measure = measure
    if not detail and change == GoalChange():
        raise AlignmentError("Say what to change: a title, a measure or an aim.")
    goal.updated_at = now
    audit(session, actor=actor, action="alignment.goal.update", target=f"goal:{goal_id}",
          detail=detail, now=now)  # fmt: skip
    return goal


def remove_goal(session: Session, goal_id: int, *, actor: str, now: datetime) -> list[str]:
    """Removes the goal, the targets' links to it and the work's links to it (that work is
    then unaligned, and the matrix questions it). Returns the work unlinked (`kind:id`)."""
    goal = get_goal(session, goal_id)
    links = session.exec(
        select(AlignmentLink)
        .where(AlignmentLink.goal_id == goal_id)
        .order_by(col(AlignmentLink.work_kind), col(AlignmentLink.work_id))
    ).all()
    unlinked = [f"{link.work_kind}:{link.work_id}" for link in links]
    session.execute(sa.delete(AlignmentLink).where(col(AlignmentLink.goal_id) == goal_id))
    session.execute(sa.delete(NationalTargetGoal).where(col(NationalTargetGoal.goal_id) == goal_id))
    session.delete(goal)
    audit(session, actor=actor, action="alignment.goal.remove", target=f"goal:{goal_id}",
          detail={"title": goal.title, "unlinked_work": unlinked}, now=now)  # fmt: skip
    return unlinked


def _measure(measure: str | None) -> str | None:
    if measure is None or not measure.strip():
        return None
    return clean_title(measure, "goal's measure")


# ---- national targets ----------------------------------------------------------------------


def get_target(session: Session, target_id: int) -> NationalTarget:
    target = session.get(NationalTarget, target_id)
    if target is None:
        raise AlignmentError(f"There is no national target {target_id}.")
    return target


def list_targets(session: Session) -> list[TargetRecord]:
    targets = session.exec(select(NationalTarget).order_by(col(NationalTarget.id))).all()
    pairs = session.exec(
        select(NationalTargetGoal).order_by(
            col(NationalTargetGoal.target_id), col(NationalTargetGoal.goal_id)
        )
    ).all()
    goals: dict[int, list[int]] = {}
    for pair in pairs:
        goals.setdefault(pair.target_id, []).append(pair.goal_id)
    return [
        TargetRecord(t.id, t.title, tuple(goals.get(t.id, ()))) for t in targets if t.id is not None
    ]


def add_target(
    session: Session, title: str, goal_ids: Iterable[int], *, actor: str, now: datetime
) -> NationalTarget:
    cleaned = clean_title(title, "national target's title")
    target = NationalTarget(
        title=cleaned,
        title_key=title_key(cleaned),
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    _insert(session, target, lambda: _target_named(session, cleaned))
    assert target.id is not None
    linked = _bear_on(session, target.id, goal_ids)
    audit(session, actor=actor, action="alignment.target.add", target=f"target:{target.id}",
          detail={"title": target.title, "goals": linked}, now=now)  # fmt: skip
    return target


def rename_target(
    session: Session, target_id: int, title: str, *, actor: str, now: datetime
) -> NationalTarget:
    target = get_target(session, target_id)
    cleaned = clean_title(title, "national target's title")
    _refuse(_target_named(session, cleaned, other_than=target_id))
    before = target.title
    target.title, target.title_key, target.updated_at = cleaned, title_key(cleaned), now
    audit(session, actor=actor, action="alignment.target.rename", target=f"target:{target_id}",
          detail={"from": before, "to": target.title}, now=now)  # fmt: skip
    return target


def link_target(
    session: Session, target_id: int, goal_ids: Iterable[int], *, actor: str, now: datetime
) -> list[int]:
    """The target also bears on these goals; returns the goals newly linked."""
    get_target(session, target_id)
    wanted = list(dict.fromkeys(goal_ids))
    if not wanted:
        raise AlignmentError("Name at least one goal the target bears on.")
    linked = _bear_on(session, target_id, wanted)
    audit(session, actor=actor, action="alignment.target.link", target=f"target:{target_id}",
          detail={"goals": linked}, now=now)  # fmt: skip
    return linked


def unlink_target(
    session: Session, target_id: int, goal_ids: Iterable[int], *, actor: str, now: datetime
) -> list[int]:
    """The target no longer bears on these goals; returns the goals that were linked."""
    get_target(session, target_id)
    wanted = list(dict.fromkeys(goal_ids))
    pairs = session.exec(
        select(NationalTargetGoal).where(
            NationalTargetGoal.target_id == target_id, col(NationalTargetGoal.goal_id).in_(wanted)
        )
    ).all()
    if not pairs:
        raise AlignmentError(f"National target {target_id} bears on none of those goals.")
    removed = sorted(pair.goal_id for pair in pairs)
    for pair in pairs:
        session.delete(pair)
    audit(session, actor=actor, action="alignment.target.unlink", target=f"target:{target_id}",
          detail={"goals": removed}, now=now)  # fmt: skip
    return removed


def remove_target(session: Session, target_id: int, *, actor: str, now: datetime) -> None:
    target = get_target(session, target_id)
    session.execute(
        sa.delete(NationalTargetGoal).where(col(NationalTargetGoal.target_id) == target_id)
    )
    session.delete(target)
    audit(session, actor=actor, action="alignment.target.remove", target=f"target:{target_id}",
          detail={"title": target.title}, now=now)  # fmt: skip


def _bear_on(session: Session, target_id: int, goal_ids: Iterable[int]) -> list[int]:
    wanted = list(dict.fromkeys(goal_ids))
    for goal_id in wanted:
        get_goal(session, goal_id)
    already = set(
        session.exec(
            select(NationalTargetGoal.goal_id).where(NationalTargetGoal.target_id == target_id)
        ).all()
    )
    added = [goal_id for goal_id in wanted if goal_id not in already]
    for goal_id in added:
        session.add(NationalTargetGoal(target_id=target_id, goal_id=goal_id))
    session.flush()
    return added


# ---- helpers -------------------------------------------------------------------------------


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
