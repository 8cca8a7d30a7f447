"""`impact-bot people export|erase --person ID` (a person's rights over their data) and
`impact-bot audit export` (the audit log, JSON or CSV). Files are written with mode 0600 and
never over an existing file without --force; without --out the JSON goes to stdout."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from cli.registry import CliCommand, CliContext, CliError, guarded
from store.privacy.audit_log import FIELDS, audit_entries
from store.privacy.rights import erase_everywhere, export_document
from store.types import utcnow

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _configure_people(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="people_command", required=True)
    export = sub.add_parser("export", help="everything stored about one person, as JSON")
    export.add_argument("--person", required=True, metavar="ID", help="Entra object id or 29:…")
    _output_arguments(export)
    erase = sub.add_parser("erase", help="erase one person's data (their answers included)")
    erase.add_argument("--person", required=True, metavar="ID", help="Entra object id or 29:…")
    erase.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")


def _configure_audit(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="audit_command", required=True)
    export = sub.add_parser("export", help="the audit log, oldest first")
    export.add_argument("--format", choices=("json", "csv"), default="json")
    _output_arguments(export)


def _output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="FILE", help="write here (mode 0600), not to stdout")
    parser.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


def _people(ctx: CliContext, args: argparse.Namespace) -> int:
    hooks, person = ctx.personal_data, args.person.strip()
    if args.people_command == "export":
        document = ctx.db.run_sync(lambda s: export_document(s, person, hooks, utcnow()))
        if document is None:
            raise CliError(f"no one is stored under {person}")
        _emit(json.dumps(document, indent=2, ensure_ascii=False) + "\n", args)
        return 0
    if not args.yes:
        raise CliError("erasing cannot be undone: add --yes to erase " + person)
    erased = ctx.db.run_sync(
        lambda s: erase_everywhere(
            s, person, hooks, actor=ctx.actor, requested_by="cli", now=utcnow()
        )
    )
    if not erased:
        raise CliError(f"no one is stored under {person}")
    print(f"erased {erased} person record(s) stored under {person}")
    return 0


def _audit(ctx: CliContext, args: argparse.Namespace) -> int:
    entries = ctx.db.run_sync(audit_entries)
    if args.format == "json":
        _emit(json.dumps(entries, indent=2, ensure_ascii=False) + "\n", args)
    else:
        _emit(audit_csv(entries), args)
    return 0


def audit_csv(entries: list[dict[str, Any]]) -> str:
    """CSV, with any cell that a spreadsheet would read as a formula written as text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FIELDS)
    for entry in entries:
        writer.writerow([_as_text(entry[name]) for name in FIELDS])
    return buffer.getvalue()


def _as_text(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _emit(body: str, args: argparse.Namespace) -> None:
    if not args.out:
        sys.stdout.write(body)
        return
    write_private(Path(args.out), body, force=args.force)
    print(f"written to {args.out} (mode 0600)")


def write_private(out: Path, body: str, *, force: bool) -> None:
    """Create `out` readable by its owner only (0600), whatever the umask."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(out, flags, 0o600)
    except FileExistsError:
        raise CliError(f"{out} already exists (use --force to overwrite it)") from None
    except OSError as exc:
        raise CliError(f"can't write {out}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(body)


PEOPLE = CliCommand("people", "a person's data: export or erase", _configure_people,
                    guarded(_people))  # fmt: skip
AUDIT = CliCommand("audit", "the audit log: export", _configure_audit, guarded(_audit))
