"""`impact-bot aims|goals|targets|projects|alignment …`: strategic alignment (seed 000) on the
database named by DATABASE_URL, for the improvement team. Changes are audited as `cli:<user>`,
as the rounds commands are; the service shows them on its next read.

    impact-bot aims add --title TITLE [--json] | list [--json] | rename AIM_ID --title TITLE
                    | remove AIM_ID
    impact-bot goals add --aim AIM_ID --title TITLE [--measure MEASURE] [--json]
                    | list [--aim AIM_ID] [--json]
                    | update GOAL_ID [--title T] [--measure M | --no-measure] [--aim AIM_ID]
                    | remove GOAL_ID
    impact-bot targets add --title TITLE [--goal GOAL_ID ...] [--json] | list [--json]
                    | link|unlink TARGET_ID --goal GOAL_ID [--goal ...]
                    | rename TARGET_ID --title TITLE | remove TARGET_ID
    impact-bot projects add --title TITLE [--team TEAM_ID] [--owner PERSON] [--status STATUS]
                    [--goal GOAL_ID] [--json] | list [--json]
                    | update PROJECT_ID [--title T] [--team TEAM_ID | --no-team]
                      [--owner PERSON | --no-owner] [--status STATUS]
                    | remove PROJECT_ID
    impact-bot alignment link --goal GOAL_ID --work KIND:ID | unlink --work KIND:ID
                    | show [--json]

The texts of `--help` ask the guiding questions of seed 000, read from the alignment tool's
content (framework/data/strategic_alignment.yaml). Errors: one line on stderr, exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import textwrap
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from alignment.rules.matrix import AlignmentError, Matrix, UnalignedReason, Work, matrix_as_dict
from alignment.rules.records import ProjectStatus, parse_id, parse_status, parse_work_ref
from alignment.services.ports import WorkSource
from alignment.services.service import AlignmentService, GoalChange, ProjectSpec
from cli.registry import CliCommand, CliContext, Run, guarded
from framework.content import AlignmentStage, default_alignment_tool
from store.types import utcnow

T = TypeVar("T")
STATUSES = "|".join(s.value for s in ProjectStatus)


def _stage(stage_id: str) -> AlignmentStage:
    return default_alignment_tool().stage(stage_id)


def _describe(parser: argparse.ArgumentParser, stage_id: str) -> str:
    """The stage's words from seed 000 as the command's description; its question, returned."""
    stage = _stage(stage_id)
    parser.description = f"{stage.name}: {stage.description} {stage.question}"
    return stage.question


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


# ---- the parsers -----------------------------------------------------------------------------


def _configure_aims(parser: argparse.ArgumentParser) -> None:
    question = _describe(parser, "strategic-aims")
    sub = parser.add_subparsers(dest="aims_command", required=True)
    add = sub.add_parser("add", help="record a strategic aim (prints its id)")
    add.add_argument("--title", required=True, help=question)
    _json_flag(add)
    _json_flag(sub.add_parser("list", help="every aim, with its goals counted"))
    rename = sub.add_parser("rename", help="give an aim a new title")
    rename.add_argument("aim", metavar="AIM_ID")
    rename.add_argument("--title", required=True, help=question)
    remove = sub.add_parser("remove", help="remove an aim that no goal tracks any more")
    remove.add_argument("aim", metavar="AIM_ID")


def _configure_goals(parser: argparse.ArgumentParser) -> None:
    question = _describe(parser, "measurable-goals")
    sub = parser.add_subparsers(dest="goals_command", required=True)
    add = sub.add_parser("add", help="record a measurable goal towards an aim (prints its id)")
    add.add_argument("--aim", required=True, metavar="AIM_ID")
    add.add_argument("--title", required=True, help="the goal, measurable")
    add.add_argument("--measure", help=question)
    _json_flag(add)
    listing = sub.add_parser("list", help="goals, with what is measured today")
    listing.add_argument("--aim", metavar="AIM_ID", help="only this aim's goals")
    _json_flag(listing)
    update = sub.add_parser("update", help="change a goal's title, measure or aim")
    update.add_argument("goal", metavar="GOAL_ID")
    update.add_argument("--title")
    measure = update.add_mutually_exclusive_group()
    measure.add_argument("--measure", help=question)
    measure.add_argument("--no-measure", action="store_true", help="nothing is measured yet")
    update.add_argument("--aim", metavar="AIM_ID", help="move the goal to this aim")
    remove = sub.add_parser("remove", help="remove a goal (its work is then linked to no aim)")
    remove.add_argument("goal", metavar="GOAL_ID")


def _configure_targets(parser: argparse.ArgumentParser) -> None:
    question = _describe(parser, "national-targets")
    sub = parser.add_subparsers(dest="targets_command", required=True)
    add = sub.add_parser("add", help="record a national target (prints its id)")
    add.add_argument("--title", required=True, help=question)
    add.add_argument(
        "--goal",
        action="append",
        default=[],
        dest="goals",
        metavar="GOAL_ID",
        help="a goal it bears on (repeat for several)",
    )
    _json_flag(add)
    _json_flag(sub.add_parser("list", help="national targets and the goals they bear on"))
    for name, what in (("link", "also bears on"), ("unlink", "no longer bears on")):
        change = sub.add_parser(name, help=f"the target {what} these goals")
        change.add_argument("target", metavar="TARGET_ID")
        change.add_argument(
            "--goal", action="append", required=True, dest="goals", metavar="GOAL_ID"
        )
    rename = sub.add_parser("rename", help="give a target a new title")
    rename.add_argument("target", metavar="TARGET_ID")
    rename.add_argument("--title", required=True, help=question)
    remove = sub.add_parser("remove", help="remove a national target")
    remove.add_argument("target", metavar="TARGET_ID")


def _configure_projects(parser: argparse.ArgumentParser) -> None:
    _describe(parser, "improvement-work")
    sub = parser.add_subparsers(dest="projects_command", required=True)
    add = sub.add_parser("add", help="record an improvement project (prints its id)")
    add.add_argument("--title", required=True)
    add.add_argument("--team", metavar="TEAM_ID", help="the team doing it (impact-bot teams list)")
    add.add_argument("--owner", metavar="PERSON", help="Entra object id or Teams id")
    add.add_argument("--status", default="active", metavar=STATUSES)
    add.add_argument("--goal", metavar="GOAL_ID", help="the goal it serves")
    _json_flag(add)
    _json_flag(sub.add_parser("list", help="every project, with its team, owner and goal"))
    update = sub.add_parser("update", help="change a project")
    update.add_argument("project", metavar="PROJECT_ID")
    update.add_argument("--title")
    team = update.add_mutually_exclusive_group()
    team.add_argument("--team", metavar="TEAM_ID")
    team.add_argument("--no-team", action="store_true")
    owner = update.add_mutually_exclusive_group()
    owner.add_argument("--owner", metavar="PERSON", help="Entra object id or Teams id")
    owner.add_argument("--no-owner", action="store_true")
    update.add_argument("--status", metavar=STATUSES)
    remove = sub.add_parser("remove", help="remove a project (and its link to a goal)")
    remove.add_argument("project", metavar="PROJECT_ID")


def _configure_alignment(parser: argparse.ArgumentParser) -> None:
    _describe(parser, "improvement-work")
    sub = parser.add_subparsers(dest="alignment_command", required=True)
    link = sub.add_parser("link", help="link improvement work to the goal it serves")
    link.add_argument("--goal", required=True, metavar="GOAL_ID")
    link.add_argument("--work", required=True, metavar="KIND:ID", help="project:3 or idea:12")
    unlink = sub.add_parser("unlink", help="the work serves no goal")
    unlink.add_argument("--work", required=True, metavar="KIND:ID", help="project:3 or idea:12")
    show = sub.add_parser(
        "show", help="aims → goals → national targets → work, and work linked to no aim"
    )
    _json_flag(show)


# ---- running ---------------------------------------------------------------------------------


def _one_line(exc: Exception) -> str:
    """The message with its whitespace run together: some come from the wrapped content."""
    return " ".join(str(exc).split())


def _run(work: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(work)


def _print_id(record_id: int, as_json: bool) -> int:
    print(json.dumps({"id": record_id}) if as_json else record_id)
    return 0


def _goal_ids(values: Sequence[str]) -> list[int]:
    return [parse_id(v, "a goal") for v in values]


def _aims(service: AlignmentService, args: argparse.Namespace, actor: str) -> int:
    command = args.aims_command
    if command == "add":
        return _print_id(_run(service.add_aim(args.title, actor=actor)), args.json)
    if command == "list":
        aims, goals = _run(service.aims()), _run(service.goals())
        rows = [
            {"id": a.id, "title": a.title, "goals": sum(1 for g in goals if g.aim_id == a.id)}
            for a in aims
        ]
        _print_rows(rows, args.json, "No aims yet.", lambda r: f"{r['goals']} goals")
        return 0
    aim_id = parse_id(args.aim, "an aim")
    if command == "rename":
        _run(service.rename_aim(aim_id, args.title, actor=actor))
        print(f"aim {aim_id} renamed")
    else:
        _run(service.remove_aim(aim_id, actor=actor))
        print(f"aim {aim_id} removed")
    return 0


def _goals(service: AlignmentService, args: argparse.Namespace, actor: str) -> int:
    command = args.goals_command
    if command == "add":
        aim_id = parse_id(args.aim, "an aim")
        return _print_id(
            _run(service.add_goal(aim_id, args.title, args.measure, actor=actor)), args.json
        )
    if command == "list":
        only = parse_id(args.aim, "an aim") if args.aim else None
        rows = [
            {"id": g.id, "aim_id": g.aim_id, "title": g.title, "measure": g.measure}
            for g in _run(service.goals(only))
        ]
        _print_rows(
            rows,
            args.json,
            "No goals yet.",
            lambda r: f"aim {r['aim_id']}\tmeasured: {r['measure'] or 'not recorded'}",
        )
        return 0
    goal_id = parse_id(args.goal, "a goal")
    if command == "update":
        change = GoalChange(
            title=args.title,
            measure=args.measure,
            clear_measure=args.no_measure,
            aim_id=parse_id(args.aim, "an aim") if args.aim else None,
        )
        _run(service.update_goal(goal_id, change, actor=actor))
        print(f"goal {goal_id} updated")
        return 0
    unlinked = _run(service.remove_goal(goal_id, actor=actor))
    now_unaligned = f"; now linked to no aim: {', '.join(unlinked)}" if unlinked else ""
    print(f"goal {goal_id} removed{now_unaligned}")
    return 0


def _targets(service: AlignmentService, args: argparse.Namespace, actor: str) -> int:
    command = args.targets_command
    if command == "add":
        target_id = _run(service.add_target(args.title, _goal_ids(args.goals), actor=actor))
        return _print_id(target_id, args.json)
    if command == "list":
        rows = [
            {"id": t.id, "title": t.title, "goal_ids": list(t.goal_ids)}
            for t in _run(service.targets())
        ]
        _print_rows(
            rows,
            args.json,
            "No national targets yet.",
            lambda r: "goals " + (", ".join(map(str, r["goal_ids"])) or "none"),
        )
        return 0
    target_id = parse_id(args.target, "a national target")
    if command == "link":
        _run(service.link_target(target_id, _goal_ids(args.goals), actor=actor))
        print(f"national target {target_id} linked")
    elif command == "unlink":
        _run(service.unlink_target(target_id, _goal_ids(args.goals), actor=actor))
        print(f"national target {target_id} unlinked")
    elif command == "rename":
        _run(service.rename_target(target_id, args.title, actor=actor))
        print(f"national target {target_id} renamed")
    else:
        _run(service.remove_target(target_id, actor=actor))
        print(f"national target {target_id} removed")
    return 0


def _projects(service: AlignmentService, args: argparse.Namespace, actor: str) -> int:
    command = args.projects_command
    if command == "list":
        rows = [vars(p) | {"work": f"project:{p.id}"} for p in _run(service.projects())]
        _print_rows(rows, args.json, "No projects yet.", _project_line)
        return 0
    if command == "remove":
        project_id = parse_id(args.project, "a project")
        _run(service.remove_project(project_id, actor=actor))
        print(f"project {project_id} removed")
        return 0
    owner = _run(service.person_by_key(args.owner)) if args.owner else None
    status = parse_status(args.status) if args.status else None
    if command == "add":
        goal_id = parse_id(args.goal, "a goal") if args.goal else None
        spec = ProjectSpec(title=args.title, team=args.team, owner=owner, status=status)
        return _print_id(_run(service.add_project(spec, goal_id=goal_id, actor=actor)), args.json)
    project_id = parse_id(args.project, "a project")
    spec = ProjectSpec(
        title=args.title,
        team=args.team,
        owner=owner,
        status=status,
        clear_team=args.no_team,
        clear_owner=args.no_owner,
    )
    _run(service.update_project(project_id, spec, actor=actor))
    print(f"project {project_id} updated")
    return 0


def _project_line(row: dict[str, Any]) -> str:
    goal = f"goal {row['goal_id']}" if row["goal_id"] else "linked to no goal"
    return "\t".join(
        (row["status"], row["team_name"] or "no team", row["owner_name"] or "no owner", goal)
    )


def _alignment(service: AlignmentService, args: argparse.Namespace, actor: str) -> int:
    command = args.alignment_command
    if command == "show":
        matrix = _run(service.matrix())
        if args.json:
            print(json.dumps(matrix_as_dict(matrix), indent=2, ensure_ascii=False))
        else:
            print_matrix(matrix)
        return 0
    work = parse_work_ref(args.work)
    if command == "link":
        goal_id = parse_id(args.goal, "a goal")
        before = _run(service.link(goal_id, work, actor=actor))
        moved = f" (was goal {before})" if before not in (None, goal_id) else ""
        print(f"{work} now serves goal {goal_id}{moved}")
    else:
        goal_id = _run(service.unlink(work, actor=actor))
        print(f"{work} no longer serves goal {goal_id}: it is linked to no aim")
    return 0


def _print_rows(
    rows: list[dict[str, Any]], as_json: bool, empty: str, rest: Callable[[dict[str, Any]], str]
) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    elif not rows:
        print(empty)
    else:
        for row in rows:
            print(f"{row['id']}\t{row['title']}\t{rest(row)}")


def alignment_commands(sources: Sequence[WorkSource]) -> tuple[CliCommand, ...]:
    """The commands, reading work from these sources (the composition root's, as the service)."""

    def command(
        work: Callable[[AlignmentService, argparse.Namespace, str], int],
    ) -> Run:
        def run(ctx: CliContext, args: argparse.Namespace) -> int:
            return work(AlignmentService(ctx.db, utcnow, sources), args, ctx.actor)

        return guarded(run, AlignmentError, say=_one_line)

    def stage_name(stage_id: str) -> str:
        return _stage(stage_id).name.lower()

    return (
        CliCommand("aims", stage_name("strategic-aims"), _configure_aims, command(_aims)),
        CliCommand("goals", stage_name("measurable-goals"), _configure_goals, command(_goals)),
        CliCommand(
            "targets", stage_name("national-targets"), _configure_targets, command(_targets)
        ),
        CliCommand("projects", "improvement projects", _configure_projects, command(_projects)),
        CliCommand(
            "alignment",
            "the strategic alignment matrix: link work to goals, show it",
            _configure_alignment,
            command(_alignment),
        ),
    )


# ---- alignment show, for a terminal ----------------------------------------------------------

REASONS = {
    UnalignedReason.NO_GOAL: "linked to no goal",
    UnalignedReason.UNKNOWN_GOAL: "linked to a goal that no longer exists",
    UnalignedReason.AIM_GONE: "its goal's aim no longer exists",
}


def _count(number: int, noun: str, plural: str | None = None) -> str:
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def _work_line(work: Work) -> str:
    where = ", ".join(part for part in (work.team_name or "no team", work.status) if part)
    return f"{work.kind}:{work.id}  {work.title} ({where})"


def print_matrix(matrix: Matrix, width: int = 100) -> None:
    """The matrix as indented text: aims, their goals with what is measured, the national
    targets bearing on each goal and its work; then the work linked to no aim, questioned in
    the seed's words."""
    goals = sum(row.goal_count for row in matrix.rows)
    print(
        f"Strategic alignment: {_count(len(matrix.rows), 'aim')}, {_count(goals, 'goal')}, "
        f"{_count(matrix.work_count, 'piece of work', 'pieces of work')} "
        f"({len(matrix.unaligned)} linked to no aim)"
    )
    for row in matrix.rows:
        print(f"\nAim {row.aim.id}: {row.aim.title}")
        print(
            f"  {_count(row.goal_count, 'goal')}, "
            f"{_count(row.work_count, 'piece of work', 'pieces of work')}, "
            f"{_count(row.goals_without_work, 'goal')} with no work"
        )
        for goal in row.goals:
            print(f"  Goal {goal.goal.id}: {goal.goal.title}")
            print(f"    Measured today: {goal.goal.measure or 'not recorded'}")
            for target in goal.targets:
                print(f"    National target {target.id}: {target.title}")
            if goal.has_no_work:
                print("    No improvement work is linked to this goal.")
            for work in goal.work:
                print(f"    {_work_line(work)}")
    challenge = matrix.challenge
    print(f"\n{challenge.stage}: linked to no aim ({len(matrix.unaligned)})")
    for line in textwrap.wrap(f"{challenge.description} {challenge.guiding_question}", width - 2):
        print(f"  {line}")
    for item in matrix.unaligned:
        print(f"  {_work_line(item.work)}: {REASONS[item.reason]}")
