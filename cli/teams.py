"""`impact-bot teams …`: the Teams the bot is installed in, and the huddle cascade's tree.

    impact-bot teams list [--json] [--tenant TENANT_ID]
    impact-bot teams parent TEAM_ID --parent TEAM_ID    # escalations go from TEAM_ID up to it
    impact-bot teams parent TEAM_ID --none              # TEAM_ID is a top team

On the database the service uses; the change is audited (actor cli:<user>) and the service acts
on it at once (escalations read the tree when they are shown or moved).
"""

from __future__ import annotations

import argparse
import asyncio
import json

from cli.registry import CliCommand, CliContext, guarded
from framework.huddle_formats import default_huddle_formats
from huddles.services.schedules import ScheduleAdmin
from store.types import utcnow


def _configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="teams_command", required=True)
    listing = sub.add_parser("list", help="id, name, tenant and the team above each")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--tenant", metavar="TENANT_ID", help="only this tenant's Teams")
    parent = sub.add_parser("parent", help="set the team above a team in the huddle cascade")
    parent.add_argument("team", metavar="TEAM_ID")
    above = parent.add_mutually_exclusive_group(required=True)
    above.add_argument("--parent", metavar="TEAM_ID")
    above.add_argument("--none", action="store_true", help="make it a top team")


def _teams(ctx: CliContext, args: argparse.Namespace) -> int:
    admin = ScheduleAdmin(ctx.db, default_huddle_formats(), utcnow)
    if args.teams_command == "parent":
        said = asyncio.run(
            admin.set_parent(args.team, None if args.none else args.parent, actor=ctx.actor)
        )
        print(said)
        return 0
    ordered = asyncio.run(admin.tree())
    by_id = {team.id: team for team, _depth in ordered}
    parents = asyncio.run(admin.parents())
    rows = []
    for team, _depth in sorted(ordered, key=lambda pair: pair[0].name.lower()):
        if args.tenant is not None and team.tenant_id != args.tenant:
            continue
        above = by_id.get(parents.get(team.id or 0))
        rows.append({"id": team.team_id, "name": team.name, "tenant": team.tenant_id,
                     **({"parent": above.team_id} if above is not None else {})})  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("The bot is not installed in any team yet (add it to a team in Teams).")
    else:
        for row in rows:
            above_id = row.get("parent")
            print(f"{row['id']}\t{row['name']}" + (f"\tunder {above_id}" if above_id else ""))
    return 0


# ValueError: the huddle store's refusals (HuddleError) among them.
TEAMS = CliCommand("teams", "Teams the bot is installed in, and the huddle cascade", _configure,
                   guarded(_teams, ValueError))  # fmt: skip
