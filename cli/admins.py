"""`impact-bot admins list [--json]`: who counts as the improvement team, and why.

The improvement team is named, never implied: the Entra object ids in IMPACT_ADMIN_IDS, plus
the owners (not the members, never the guests) of the improvement team's Team
(IMPACT_IMPROVEMENT_TEAM_ID), as Teams says now. Its members and guests are listed as not
counted, so a reviewer sees the whole picture.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from cli.registry import CliCommand, CliContext, CliError, guarded
from framework.identity import TeamMember
from rounds.rules.access import Policy
from rounds.services.improvement_team import Admin, ImprovementTeam
from store.db import DatabaseUnavailable


def _configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="admins_command", required=True)
    listing = sub.add_parser("list", help="who counts as the improvement team, and why")
    listing.add_argument("--json", action="store_true")


def _read(ctx: CliContext) -> tuple[list[Admin], list[TeamMember]]:
    settings = ctx.settings

    async def read() -> tuple[list[Admin], list[TeamMember]]:
        # The Bot Framework's stack (0.3 s of imports) only when Teams is asked.
        from bot.adapter import build_adapter
        from bot.teams_reads import TeamsDirectory

        adapter = build_adapter(settings)
        team = ImprovementTeam(
            ctx.db,
            Policy.of(settings.admin_ids),
            TeamsDirectory(adapter, settings.app_id),
            settings.improvement_team_id,
        )
        try:
            return await team.admins()
        finally:
            await adapter.bot_framework_authentication.close()

    try:
        return asyncio.run(read())
    except DatabaseUnavailable:
        raise
    except Exception as exc:  # Teams did not answer for the improvement Team's roster
        raise CliError(f"could not read the improvement Team's roster: {exc}") from exc


def _run(ctx: CliContext, args: argparse.Namespace) -> int:
    admins, others = _read(ctx)
    if args.json:
        rows = [
            {"person": a.person, "name": a.name, "tenant": a.tenant_id, "why": a.why}
            for a in admins
        ]
        ignored = [
            {"person": m.aad_object_id or m.teams_user_id, "name": m.name, "role": m.team_role}
            for m in others
        ]
        print(json.dumps({"admins": rows, "not_counted": ignored}, indent=2))
        return 0
    if not admins:
        print("Nobody counts as the improvement team (set IMPACT_ADMIN_IDS or "
              "IMPACT_IMPROVEMENT_TEAM_ID).")  # fmt: skip
    for a in admins:
        print("\t".join((a.person, a.name or "-", a.tenant_id or "any tenant", a.why)))
    for m in others:
        who = m.aad_object_id or m.teams_user_id
        print(f"not counted: {who}\t{m.name or '-'}\t{m.team_role} of the improvement Team")
    return 0


ADMINS = CliCommand(
    "admins", "who counts as the improvement team, and why", _configure, guarded(_run)
)
