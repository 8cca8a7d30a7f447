"""`impact-bot teams …` and `impact-bot rounds …`: improvement-team commands on the database named
by DATABASE_URL. They work while the service runs: the service's scheduler reconciles from the
rounds table within seconds. Errors go to stderr, one line, with a non-zero exit."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import Session

from bot.config import Settings
from framework.content import default_framework
from rounds.when import Period, WhenError, parse_when
from store.db import Database, DatabaseUnavailable
from store.models import utcnow
from store.rounds import (
    RoundError,
    RoundSpec,
    RoundSummary,
    cancel_round,
    create_round,
    extend_round,
    get_round,
    installed_teams,
    list_rounds,
    outbox_counts,
    request_close,
    summarise,
)

T = TypeVar("T")


def add_commands(commands: Any) -> None:
    teams = commands.add_parser("teams", help="Teams the bot is installed in")
    teams_commands = teams.add_subparsers(dest="teams_command", required=True)
    listing = teams_commands.add_parser("list", help="id, name, members")
    listing.add_argument("--json", action="store_true")

    rounds = commands.add_parser("rounds", help="assessment rounds")
    sub = rounds.add_subparsers(dest="rounds_command", required=True)
    create = sub.add_parser("create", help="create a round (prints its id)")
    create.add_argument("--name", required=True)
    create.add_argument("--team", action="append", required=True, dest="teams", metavar="TEAM_ID")
    create.add_argument("--opens", default="now", metavar="WHEN")
    create.add_argument("--closes", required=True, metavar="WHEN")
    create.add_argument("--reminders", default="3d,7d,last-day", metavar="PLAN")
    create.add_argument("--role-question", action="store_true")
    create.add_argument("--repeat-every", metavar="PERIOD")
    create.add_argument("--json", action="store_true")
    for name in ("list",):
        sub.add_parser(name, help="all rounds").add_argument("--json", action="store_true")
    status = sub.add_parser("status", help="one round's progress")
    status.add_argument("round", type=int)
    status.add_argument("--json", action="store_true")
    extend = sub.add_parser("extend", help="move the closing time")
    extend.add_argument("round", type=int)
    extend.add_argument("--closes", required=True, metavar="WHEN")
    for name in ("close", "cancel"):
        sub.add_parser(name, help=f"{name} a round now").add_argument("round", type=int)


def run(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings.database_url, pool_size=1)
    actor = f"cli:{getpass.getuser()}"
    try:
        if args.command == "teams":
            return _teams_list(db, args.json)
        return _rounds(db, settings, args, actor)
    except (RoundError, WhenError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except DatabaseUnavailable as exc:
        print(f"database error: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()


def _teams_list(db: Database, as_json: bool) -> int:
    teams = db.run_sync(installed_teams)
    rows = [{"id": t.team_id, "name": t.name, "tenant": t.tenant_id} for t in teams]
    if as_json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("The bot is not installed in any team yet (add it to a team in Teams).")
    else:
        for row in rows:
            print(f"{row['id']}\t{row['name']}")
    return 0


def _rounds(db: Database, settings: Settings, args: argparse.Namespace, actor: str) -> int:
    command = args.rounds_command
    now = utcnow()
    if command == "create":
        spec = RoundSpec(
            name=args.name,
            team_ids=tuple(args.teams),
            opens_at=parse_when(args.opens, now=now, zone=settings.zone),
            closes_at=parse_when(args.closes, now=now, zone=settings.zone),
            reminder_plan=args.reminders,
            role_question=args.role_question,
            repeat_every=str(Period.parse(args.repeat_every)) if args.repeat_every else None,
        )
        framework = default_framework()
        round_id = _write(
            db, lambda s: create_round(s, spec, framework=framework, actor=actor, now=now).id
        )
        print(json.dumps({"id": round_id}) if args.json else round_id)
        return 0
    if command == "list":
        summaries = db.run_sync(list_rounds)
        _print_summaries(summaries, args.json, settings)
        return 0
    if command == "status":

        def read(session: Session) -> tuple[RoundSummary, dict[str, int]]:
            return summarise(session, get_round(session, args.round)), outbox_counts(
                session, args.round
            )

        summary, outbox = db.run_sync(read)
        if args.json:
            print(json.dumps(_summary_json(summary) | {"outbox": outbox}, indent=2))
        else:
            _print_summaries([summary], False, settings)
            print(
                "messages: " + (", ".join(f"{k} {v}" for k, v in sorted(outbox.items())) or "none")
            )
        return 0
    if command == "extend":
        closes = parse_when(args.closes, now=now, zone=settings.zone)
        _write(db, lambda s: extend_round(s, args.round, closes, actor=actor, now=now))
        print(f"round {args.round} now closes {closes.astimezone(settings.zone):%Y-%m-%d %H:%M}")
        return 0
    action = {"close": request_close, "cancel": cancel_round}[command]
    _write(db, lambda s: action(s, args.round, actor=actor, now=now))
    print(
        f"round {args.round}: {command} requested"
        if command == "close"
        else f"round {args.round} cancelled"
    )
    return 0


def _write(db: Database, work: Callable[[Session], T]) -> T:
    return db.run_sync(work)


def _summary_json(summary: RoundSummary) -> dict[str, Any]:
    return {
        "id": summary.id,
        "name": summary.name,
        "status": summary.status,
        "opens_at": summary.opens_at.isoformat(),
        "closes_at": summary.closes_at.isoformat(),
        "teams": list(summary.teams),
        "participants": summary.participants,
        "submitted": summary.submitted,
    }


def _print_summaries(summaries: list[RoundSummary], as_json: bool, settings: Settings) -> None:
    if as_json:
        print(json.dumps([_summary_json(s) for s in summaries], indent=2))
        return
    if not summaries:
        print("No rounds yet.")
        return
    for s in summaries:
        when = f"{_local(s.opens_at, settings)} → {_local(s.closes_at, settings)}"
        print(
            f"{s.id}\t{s.status}\t{s.name}\t{when}"
            f"\t{s.submitted}/{s.participants} submitted\t{', '.join(s.teams)}"
        )


def _local(moment: datetime, settings: Settings) -> str:
    return f"{moment.astimezone(settings.zone):%Y-%m-%d %H:%M}"
