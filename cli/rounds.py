"""`impact-bot rounds …`: improvement-team commands on the database named
by DATABASE_URL. They work while the service runs: the service's scheduler reconciles from the
rounds table within seconds. Errors go to stderr, one line, with a non-zero exit.

`rounds export` writes a closed round's aggregated results, as frozen when it closed
(rounds.services.export_files: group figures with the anonymity rules applied, never an answer,
a name or a comment; an open round has none, only response counts in `rounds status`), and
records who exported what in the audit trail. The file is written next to its destination and
moved into place in the same transaction as the audit entry, so no export file appears without
its audit entry, and an existing file is never replaced without --force.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import Session

from bot.config import Settings
from cli.registry import CliCommand, CliContext, CliError, guarded
from rounds.rules.results import RoundResults
from rounds.rules.when import Period, WhenError, parse_when
from rounds.services.admin import RoundAdmin
from store.audit import audit
from store.rounds.frozen import RoundNotClosed, results_of_closed_round
from store.rounds.lifecycle import (
    RoundError,
    RoundSpec,
    RoundSummary,
    get_round,
)
from store.rounds.results import RoundNotFound
from store.types import utcnow

T = TypeVar("T")

EXPORT_FORMATS = ("csv", "xlsx")


def _configure_rounds(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rounds_command", required=True)
    create = sub.add_parser("create", help="create a round (prints its id)")
    create.add_argument("--name", required=True)
    create.add_argument("--team", action="append", required=True, dest="teams", metavar="TEAM_ID")
    create.add_argument("--opens", default="now", metavar="WHEN")
    create.add_argument("--closes", required=True, metavar="WHEN")
    create.add_argument("--reminders", default="3d,7d,last-day", metavar="PLAN")
    create.add_argument("--role-question", action="store_true")
    create.add_argument("--repeat-every", metavar="PERIOD")
    create.add_argument("--json", action="store_true")
    listing = sub.add_parser("list", help="all rounds (or one tenant's)")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--tenant", metavar="TENANT_ID", help="only this tenant's rounds")
    status = sub.add_parser("status", help="one round's progress")
    status.add_argument("round", type=int)
    status.add_argument("--json", action="store_true")
    extend = sub.add_parser("extend", help="move the closing time")
    extend.add_argument("round", type=int)
    extend.add_argument("--closes", required=True, metavar="WHEN")
    for name in ("close", "cancel"):
        sub.add_parser(name, help=f"{name} a round now").add_argument("round", type=int)
    resend = sub.add_parser(
        "resend", help="queue a round's failed invitations and summaries again (audited)"
    )
    resend.add_argument("round", type=int)
    resend.add_argument(
        "--failed", action="store_true", help="every failed invitation and summary of the round"
    )
    resend.add_argument(
        "--person", metavar="ID", help="only this person's (people id, Teams id or Entra id)"
    )
    repeat = sub.add_parser("repeat", help="pause, resume or stop a repeating round's series")
    repeat.add_argument("round", type=int)
    repeat.add_argument("change", choices=("pause", "resume", "stop"))
    export = sub.add_parser(
        "export", help="write a round's aggregated results (no answers, names or comments)"
    )
    export.add_argument("round", type=int)
    export.add_argument(
        "--format", metavar="csv|xlsx", help="default: from the file name's extension"
    )
    export.add_argument("--out", required=True, metavar="FILE")
    export.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


def _admin(ctx: CliContext) -> RoundAdmin:
    settings = ctx.settings
    return RoundAdmin(ctx.db, ctx.framework, settings.round_options(), utcnow)


def _rounds(ctx: CliContext, args: argparse.Namespace) -> int:
    settings, actor, admin = ctx.settings, ctx.actor, _admin(ctx)
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
        round_id = asyncio.run(admin.create(spec, actor=actor))
        print(json.dumps({"id": round_id}) if args.json else round_id)
        return 0
    if command == "list":
        _print_summaries(asyncio.run(admin.rounds(args.tenant)), args.json, settings)
        return 0
    if command == "status":
        return _status(ctx, admin, args.round, args.json)
    if command == "export":
        return _export(ctx, args)
    if command == "extend":
        closes = parse_when(args.closes, now=now, zone=settings.zone)
        asyncio.run(admin.extend(args.round, closes, actor=actor))
        print(f"round {args.round} now closes {closes.astimezone(settings.zone):%Y-%m-%d %H:%M}")
        return 0
    if command == "repeat":
        asyncio.run(admin.set_repetition(args.round, args.change, actor=actor))
        done = {"pause": "paused", "resume": "resumed", "stop": "stopped"}[args.change]
        print(f"round {args.round}: repetition {done}")
        return 0
    if command == "resend":
        return _resend(admin, args, actor)
    if command == "close":
        asyncio.run(admin.close(args.round, actor=actor))
        print(f"round {args.round}: close requested")
        return 0
    asyncio.run(admin.cancel(args.round, actor=actor))
    print(f"round {args.round} cancelled")
    return 0


def _resend(admin: RoundAdmin, args: argparse.Namespace, actor: str) -> int:
    if not args.failed and args.person is None:
        raise CliError("say what to resend: --failed, --person ID, or both")
    done = asyncio.run(admin.resend(args.round, person=args.person, actor=actor))
    print(
        f"round {args.round}: {done.total} queued again "
        f"({done.invitations} invitations, {done.summaries} summaries)"
        + (f"; {done.skipped} not resendable now" if done.skipped else "")
    )
    return 0


ROUNDS = CliCommand(
    "rounds", "assessment rounds", _configure_rounds, guarded(_rounds, RoundError, WhenError)
)


# ---- status: progress per team, what was not delivered ----------------------------------------


def _status(ctx: CliContext, admin: RoundAdmin, round_id: int, as_json: bool) -> int:
    settings = ctx.settings
    status = asyncio.run(admin.status(round_id))
    if as_json:
        document = _summary_json(status.summary) | {
            "responses": [vars(r) for r in status.responses],
            "outbox": status.messages,
            "failures": [vars(f) for f in status.failures],
        }
        print(json.dumps(document, indent=2))
        return 0
    _print_summaries([status.summary], False, settings)
    for team in status.responses:
        print(f"  {team.name or team.team_id}\t{team.submitted}/{team.roster} submitted")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(status.messages.items()) if v)
    print("messages: " + (counts or "none"))
    for f in status.failures:
        who = f.person or (f"person {f.person_id}" if f.person_id is not None else None)
        where = who or f.team or f.team_id or "?"
        http = f"HTTP {f.http_status}" if f.http_status is not None else "no answer"
        print(f"  failed {f.kind}\t{where}\t{http}\t{f.code or '-'}\t{f.message}")
    return 0


# ---- export: the aggregated results as a file ------------------------------------------------


def _export_format(requested: str | None, out: Path) -> str:
    suffix = out.suffix.lower().lstrip(".")
    if requested is None:
        if suffix in EXPORT_FORMATS:
            return suffix
        raise CliError(f"say --format csv or --format xlsx (can't tell from '{out.name}')")
    chosen = requested.lower()
    if chosen not in EXPORT_FORMATS:
        raise CliError(f"unknown format '{requested}' (use csv or xlsx)")
    if suffix in EXPORT_FORMATS and suffix != chosen:
        raise CliError(f"--format {chosen} but '{out.name}' ends in .{suffix}")
    return chosen


def _cannot_write(out: Path, exc: OSError) -> CliError:
    return CliError(f"can't write {out}: {exc.strerror or exc}")


def _export_target(args: argparse.Namespace) -> tuple[Path, str]:
    """The file to write and its format, refused before any database work when unusable."""
    out = Path(args.out).expanduser().absolute()
    if out.is_dir():
        raise CliError(f"{out} is a directory; give a file name")
    fmt = _export_format(args.format, out)
    if out.exists() and not args.force:
        raise CliError(f"{out} already exists (use --force to overwrite it)")
    if not out.parent.is_dir():
        raise CliError(f"can't write {out}: no directory {out.parent}")
    return out, fmt


def _closed_results(ctx: CliContext, round_id: int) -> tuple[str, RoundResults]:
    """A closed round's status and results; a clear error for any other round."""
    settings, framework = ctx.settings, ctx.framework

    def read(session: Session) -> tuple[str, datetime, RoundResults]:
        round_ = get_round(session, round_id)
        try:
            results = results_of_closed_round(
                session,
                round_id,
                framework=framework,
                min_group=settings.min_group_size,
                min_comment_group=settings.min_comment_group_size,
                now=utcnow(),
            )
        except RoundNotFound:
            raise RoundError(f"there is no round {round_id}") from None
        except RoundNotClosed as exc:
            when = (
                f" (it closes {_local(round_.closes_at, settings)})"
                if round_.status in ("open", "scheduled")
                else ""
            )
            raise CliError(
                f"round {round_id} is {exc.status}{when}: results exist only for closed "
                f"rounds; `impact-bot rounds status {round_id}` shows the response counts"
            ) from None
        except ValueError as exc:  # a round of another framework
            raise CliError(str(exc)) from None
        return round_.status, round_.closes_at, results

    status, _closes_at, results = ctx.db.run_sync(read)
    return status, results


def _record_and_publish(
    ctx: CliContext,
    args: argparse.Namespace,
    part: Path,
    out: Path,
    fmt: str,
    status: str,
    results: RoundResults,
) -> None:
    """Audit the export and move the file into place in one transaction: the audit entry is
    written before the file appears, and the file is taken back if the entry does not commit."""
    existed = out.exists()
    published = False

    def record(session: Session) -> None:
        nonlocal published
        audit(
            session,
            actor=ctx.actor,
            action="round.export",
            target=f"round:{args.round}",
            detail={
                "format": fmt,
                "file": str(out),
                "overwrote": existed,
                "round_status": status,
                "responses": results.submitted,
                "min_group": results.min_group,
            },
            now=utcnow(),
        )
        session.flush()  # the audit entry is written before the file appears
        _publish(part, out, force=args.force)
        published = True

    try:
        ctx.db.run_sync(record)
    except BaseException:
        if published:  # the audit entry did not commit: take the file back
            out.unlink(missing_ok=True)
        raise


def _export(ctx: CliContext, args: argparse.Namespace) -> int:
    from rounds.services.export_files import export_csv, export_xlsx  # openpyxl: only here

    write = {"csv": export_csv, "xlsx": export_xlsx}  # one writer for each of EXPORT_FORMATS
    out, fmt = _export_target(args)
    status, results = _closed_results(ctx, args.round)
    try:
        handle, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    except OSError as exc:
        raise _cannot_write(out, exc) from None
    part = Path(name)
    os.close(handle)
    try:
        try:
            write[fmt](results, part, ctx.framework)
            part.chmod(0o600)  # mkstemp's own mode, kept: only its owner reads an export
        except OSError as exc:
            raise _cannot_write(out, exc) from None
        _record_and_publish(ctx, args, part, out, fmt, status, results)
    finally:
        part.unlink(missing_ok=True)
    print(f"round {args.round}: aggregated results written to {out} ({fmt})")
    return 0


def _publish(part: Path, out: Path, *, force: bool) -> None:
    """Move the finished file into place: over an existing file only with force."""
    try:
        if force:
            os.replace(part, out)
            return
        try:
            os.link(part, out)  # fails if `out` exists, even if it appeared a moment ago
        except FileExistsError:
            raise CliError(f"{out} already exists (use --force to overwrite it)") from None
        except OSError:  # a file system without hard links
            if out.exists():
                raise CliError(f"{out} already exists (use --force to overwrite it)") from None
            os.replace(part, out)
    except OSError as exc:
        raise _cannot_write(out, exc) from None


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
        "pending_teams": list(summary.pending_teams),
        "note": summary.note,
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
        if s.note:
            print(f"  note: {s.note}")


def _local(moment: datetime, settings: Settings) -> str:
    return f"{moment.astimezone(settings.zone):%Y-%m-%d %H:%M}"
