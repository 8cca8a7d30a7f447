"""`impact-bot huddles …` and `impact-bot ideas …`, on the database the service uses; the
service's scheduler acts on a change within IMPACT_RECONCILE_SECONDS (its jobs are reconciled
from the huddle tables). Every change is audited (actor cli:<user>).

    impact-bot huddles schedule --team TEAM_ID [--channel CHANNEL_ID] --days mon,tue,wed,thu,fri
        --at HH:MM [--zone ZONE] [--lead-minutes N] [--include-bank-holidays] [--format FORMAT]
        [--name NAME] [--json]                      # prints the schedule id
    impact-bot huddles list [--team TEAM_ID] [--json]
    impact-bot huddles pause|resume|delete SCHEDULE_ID
    impact-bot huddles skip SCHEDULE_ID [--on DATE]
    impact-bot huddles post SCHEDULE_ID             # an unscheduled huddle, now, through the outbox
    impact-bot huddles history --team TEAM_ID [--json]
    impact-bot huddles leads add|remove --team TEAM_ID --person ID
    impact-bot huddles leads list [--json]
    impact-bot ideas list --team TEAM_ID [--status STATUS] [--json]

Without --channel the prompt goes to the team's General channel. `post` reads the team's roster
from Teams (for the lead's @mention and the action owners) with the service's credentials; if
Teams does not answer, the prompt goes out without them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.cards.huddles.messages import HuddleCards
from cli.registry import CliCommand, CliContext, CliError, guarded
from framework.huddle_formats import default_huddle_formats
from huddles.rules.items import IdeaStatus, ItemKind
from huddles.rules.schedule import ScheduleError, parse_days, parse_time
from huddles.services.access import HuddleAccess
from huddles.services.posting import HuddlePoster
from huddles.services.schedules import ScheduleAdmin, ScheduleInfo, ScheduleSpec
from rounds.rules.access import Policy
from rounds.rules.written import PreferencesError, parse_date
from rounds.services.improvement_team import ImprovementTeam
from store.huddles import items as item_store
from store.huddles.occurrences import HistoryRow
from store.huddles.schedules import team_by_teams_id
from store.types import utcnow


def _configure_huddles(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="huddles_command", required=True)
    schedule = sub.add_parser("schedule", help="a new huddle schedule (prints its id)")
    schedule.add_argument("--team", required=True, metavar="TEAM_ID")
    schedule.add_argument("--channel", metavar="CHANNEL_ID", help="default: General")
    schedule.add_argument("--days", required=True, help="e.g. mon,tue,wed,thu,fri")
    schedule.add_argument("--at", required=True, metavar="HH:MM")
    schedule.add_argument("--zone", help="IANA zone, default IMPACT_TIMEZONE")
    schedule.add_argument("--lead-minutes", type=int, default=5, metavar="N")
    schedule.add_argument("--include-bank-holidays", action="store_true",
                          help="huddle on England and Wales bank holidays too")  # fmt: skip
    schedule.add_argument("--format", metavar="FORMAT", help="default: the first format")
    schedule.add_argument("--name", help="default: the format's name")
    schedule.add_argument("--json", action="store_true")
    listing = sub.add_parser("list", help="huddle schedules and their next prompt")
    listing.add_argument("--team", metavar="TEAM_ID")
    listing.add_argument("--json", action="store_true")
    for name in ("pause", "resume", "delete"):
        sub.add_parser(name, help=f"{name} a schedule").add_argument("schedule", type=int)
    skip = sub.add_parser("skip", help="skip the next huddle, or the one on a date")
    skip.add_argument("schedule", type=int)
    skip.add_argument("--on", metavar="DATE", help="e.g. 2026-12-24 or '24 December'")
    post = sub.add_parser("post", help="post a prompt now (an unscheduled huddle)")
    post.add_argument("schedule", type=int)
    history = sub.add_parser("history", help="a team's huddles, newest first")
    history.add_argument("--team", required=True, metavar="TEAM_ID")
    history.add_argument("--json", action="store_true")
    leads = sub.add_parser("leads", help="name the leads of a team (besides its owners)")
    leads_sub = leads.add_subparsers(dest="leads_command", required=True)
    for name in ("add", "remove"):
        one = leads_sub.add_parser(name, help=f"{name} a named lead")
        one.add_argument("--team", required=True, metavar="TEAM_ID")
        one.add_argument("--person", required=True, metavar="ID",
                         help="Teams user id (29:…) or Entra object id")  # fmt: skip
    leads_sub.add_parser("list", help="every named lead").add_argument(
        "--json", action="store_true"
    )


def _configure_ideas(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="ideas_command", required=True)
    listing = sub.add_parser("list", help="a team's ideas")
    listing.add_argument("--team", required=True, metavar="TEAM_ID")
    listing.add_argument("--status", choices=[s.value for s in IdeaStatus])
    listing.add_argument("--json", action="store_true")


def _admin(ctx: CliContext) -> ScheduleAdmin:
    return ScheduleAdmin(ctx.db, default_huddle_formats(), utcnow)


def _huddles(ctx: CliContext, args: argparse.Namespace) -> int:
    command = args.huddles_command
    if command == "schedule":
        return _schedule(ctx, args)
    if command == "list":
        infos = asyncio.run(_admin(ctx).schedules(args.team))
        _print_schedules(infos, args.json)
        return 0
    if command in ("pause", "resume", "delete", "skip"):
        return _change(ctx, args)
    if command == "post":
        return _post(ctx, args.schedule)
    if command == "history":
        _team, rows = asyncio.run(_admin(ctx).history(args.team))
        _print_history(rows, args.json)
        return 0
    return _leads(ctx, args)


def _schedule(ctx: CliContext, args: argparse.Namespace) -> int:
    formats = default_huddle_formats()
    chosen = args.format or formats.formats[0].id
    try:
        spec = ScheduleSpec(
            team_id=args.team,
            name=args.name or (formats.format(chosen).name if chosen in formats.ids else chosen),
            format_id=chosen,
            days=parse_days(args.days),
            at=parse_time(args.at),
            zone=args.zone or ctx.settings.timezone,
            skip_bank_holidays=not args.include_bank_holidays,
            lead_minutes=args.lead_minutes,
            channel_id=args.channel,
            channel_name="" if args.channel is None else args.channel,
        )
    except ScheduleError as exc:
        raise CliError(str(exc).rstrip(".")) from None
    schedule_id = asyncio.run(_admin(ctx).create(spec, actor=ctx.actor))
    print(json.dumps({"id": schedule_id}) if args.json else schedule_id)
    return 0


def _change(ctx: CliContext, args: argparse.Namespace) -> int:
    admin, command = _admin(ctx), args.huddles_command
    skip_on = None
    if command == "skip" and args.on:
        info, _team = asyncio.run(admin.schedule(args.schedule))
        today = datetime.now(ZoneInfo(info.zone)).date()
        try:
            skip_on = parse_date(args.on, today=today)
        except PreferencesError as exc:
            raise CliError(str(exc)) from None
    info = asyncio.run(admin.change(args.schedule, command, actor=ctx.actor, skip_on=skip_on))
    if command == "skip":
        print(f"huddle schedule {info.id}: skipping {(skip_on or _next_skipped(info))}")
    else:
        done = {"pause": "paused", "resume": "resumed", "delete": "deleted"}[command]
        print(f"huddle schedule {info.id} {done}")
    return 0


def _next_skipped(info: ScheduleInfo) -> str:
    return info.skip_dates[-1] if info.skip_dates else "?"


def _post(ctx: CliContext, schedule_id: int) -> int:
    settings = ctx.settings

    async def post() -> int:
        # The Bot Framework's stack (0.3 s of imports) only for the command that calls Teams.
        from bot.adapter import build_adapter
        from bot.teams_reads import TeamsDirectory

        directory = TeamsDirectory(build_adapter(settings), settings.app_id)
        improvement = ImprovementTeam(
            ctx.db, Policy.of(settings.admin_ids), directory, settings.improvement_team_id
        )
        access = HuddleAccess(ctx.db, directory, improvement, utcnow)
        poster = HuddlePoster(ctx.db, access, default_huddle_formats(), HuddleCards())
        return await poster.post_now(schedule_id, actor=ctx.actor, now=utcnow())

    huddle_id = asyncio.run(post())
    print(f"huddle {huddle_id} posted (queued in the outbox; the service sends it)")
    return 0


def _leads(ctx: CliContext, args: argparse.Namespace) -> int:
    admin, command = _admin(ctx), args.leads_command
    if command == "list":
        rows = [{"team": t, "person": p} for t, p in asyncio.run(admin.leads())]
        if args.json:
            print(json.dumps(rows, indent=2))
        for row in [] if args.json else rows:
            print(f"{row['team']}\t{row['person']}")
        return 0
    if command == "add":
        added = asyncio.run(admin.add_lead(args.team, args.person, actor=ctx.actor))
        print(f"{args.person} is {'now' if added else 'already'} a lead of {args.team}")
        return 0
    removed = asyncio.run(admin.remove_lead(args.team, args.person, actor=ctx.actor))
    print(f"{args.person} is {'no longer' if removed else 'not'} a named lead of {args.team}")
    return 0


def _ideas(ctx: CliContext, args: argparse.Namespace) -> int:
    def read(session: Any) -> list[dict[str, Any]]:
        team = team_by_teams_id(session, args.team)
        assert team.id is not None
        statuses = (args.status,) if args.status else None
        rows = item_store.team_items(session, team.id, ItemKind.IDEA, statuses)
        return [
            {"id": r.id, "text": r.text, "status": r.status,
             "pdsa_cycles": r.cycles, "owner": r.owner_name or None,
             "raised": r.created_at.isoformat()}
            for r in rows
        ]  # fmt: skip

    ideas = ctx.db.run_sync(read)
    if args.json:
        print(json.dumps(ideas, indent=2))
    elif not ideas:
        print("No ideas.")
    for idea in [] if args.json else ideas:
        cycles = f" (PDSA cycle {idea['pdsa_cycles']})" if idea["status"] == "testing" else ""
        print(f"{idea['id']}\t{idea['status']}{cycles}\t{idea['owner'] or '-'}\t{idea['text']}")
    return 0


def _schedule_json(info: ScheduleInfo) -> dict[str, Any]:
    document = {key: getattr(info, key) for key in ScheduleInfo.__dataclass_fields__}
    document["skip_dates"] = list(info.skip_dates)
    document["next_post_at"] = info.next_post_at.isoformat() if info.next_post_at else None
    document["next_huddle_date"] = (
        info.next_huddle_date.isoformat() if info.next_huddle_date else None
    )
    return document


def _print_schedules(infos: list[ScheduleInfo], as_json: bool) -> None:
    if as_json:
        print(json.dumps([_schedule_json(i) for i in infos], indent=2))
        return
    if not infos:
        print("No huddle schedules yet.")
    for i in infos:
        state = "paused" if i.paused else (
            f"next {i.next_post_at.astimezone(ZoneInfo(i.zone)):%Y-%m-%d %H:%M}"
            if i.next_post_at else "no huddles to come"
        )  # fmt: skip
        print(f"{i.id}\t{i.team_name}\t{i.name}\t{i.days} {i.at} {i.zone}\t{state}")


def _print_history(rows: list[HistoryRow], as_json: bool) -> None:
    if as_json:
        print(json.dumps([_history_json(r) for r in rows], indent=2))
        return
    if not rows:
        print("No huddles yet.")
    for r in rows:
        print(f"{r.local_date}\t{r.schedule_name}\t{r.status}\t{r.attendance} here")


def _history_json(row: HistoryRow) -> dict[str, Any]:
    return {
        "id": row.huddle_id,
        "schedule_id": row.schedule_id,
        "schedule": row.schedule_name,
        "date": row.local_date.isoformat(),
        "unscheduled": row.slot > 0,
        "huddle_at": row.huddle_at.isoformat(),
        "status": row.status,
        "attendance": row.attendance,
        "note": row.note,
    }


# ValueError: the huddle store's refusals (HuddleError) among them.
HUDDLES = CliCommand("huddles", "team huddle schedules and their history",
                     _configure_huddles, guarded(_huddles, ValueError))  # fmt: skip
IDEAS = CliCommand("ideas", "ideas raised in team huddles", _configure_ideas,
                   guarded(_ideas, ValueError))  # fmt: skip
