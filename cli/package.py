"""`impact-bot package --app-id APP_ID --domain HOST [--out impact-bot.zip]`: the Teams app
package a Teams admin uploads (manifest.json, color.png, outline.png at the zip's root).

The manifest is deployment/teams/manifest.json with its `{{…}}` placeholders filled in, and the
bot's `commandLists` made from the text commands every feature declares (the composition root
passes them in), so the list Teams shows can never drift from what the bot understands.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from bot.registry import Scope, TextCommand
from cli.registry import CliCommand, CliContext, CliError

TEMPLATE_NAME = "manifest.json"
ICON_NAMES = ("color.png", "outline.png")
MAX_COMMANDS_PER_LIST = 12  # Teams' limit (the manifest schema's maxItems)
GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
HOST = re.compile(
    r"^(?=.{1,253}$)(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$"
)
PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
# Our scopes → the manifest's: a Teams channel is the "team" scope there.
MANIFEST_SCOPES: dict[Scope, str] = {
    "personal": "personal",
    "channel": "team",
    "groupChat": "groupChat",
}


def teams_folder() -> Path:
    """deployment/teams/ of this source tree, or of the working directory (the image's /app)."""
    for base in (Path(__file__).resolve().parents[1], Path.cwd()):
        folder = base / "deployment" / "teams"
        if (folder / TEMPLATE_NAME).is_file():
            return folder
    raise CliError("cannot find deployment/teams/manifest.json: pass --source DIR")


def check_app_id(value: str) -> str:
    if not value:
        raise CliError("--app-id is required: the bot's Microsoft App ID (a GUID)")
    if not GUID.match(value):
        raise CliError(
            f"--app-id {value!r} is not a GUID like 00000000-0000-0000-0000-000000000000"
        )
    return value.lower()


def check_domain(value: str) -> str:
    host = value.strip().removeprefix("https://").rstrip("/")
    if not HOST.match(host):
        raise CliError(f"--domain {value!r} is not a host name like impact-bot.example.nhs.uk")
    return host.lower()


def command_lists(commands: Iterable[TextCommand[Any]]) -> list[dict[str, Any]]:
    """One list per group of scopes that offer the same commands, titled commands only, in the
    order features declare them."""
    by_scope: dict[str, list[dict[str, str]]] = {scope: [] for scope in MANIFEST_SCOPES.values()}
    for command in commands:
        if not command.title:
            continue
        entry = {"title": command.title, "description": command.description or command.title}
        for ours in sorted(command.menu_scopes):
            by_scope[MANIFEST_SCOPES[ours]].append(entry)
    lists: list[dict[str, Any]] = []
    for scope, entries in by_scope.items():
        if not entries:
            continue
        if len(entries) > MAX_COMMANDS_PER_LIST:
            raise CliError(
                f"{len(entries)} commands in the {scope} scope; Teams lists at most "
                f"{MAX_COMMANDS_PER_LIST}: give the others no title"
            )
        same = next((item for item in lists if item["commands"] == entries), None)
        if same is not None:
            same["scopes"].append(scope)
        else:
            lists.append({"scopes": [scope], "commands": entries})
    return lists


def _fill(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _fill(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    if isinstance(node, str):
        return PLACEHOLDER.sub(lambda match: values[match.group(1)], node)
    return node


def build_manifest(
    template: dict[str, Any],
    commands: Sequence[TextCommand[Any]],
    *,
    app_id: str,
    domain: str,
    version: str,
    developer_name: str = "NHS organisation",
    website_url: str = "",
    privacy_url: str = "",
    terms_url: str = "",
) -> dict[str, Any]:
    """The manifest for this deployment: ids and addresses filled in, command lists added."""
    host = check_domain(domain)
    home = f"https://{host}/"
    values = {
        "APP_ID": check_app_id(app_id),
        "DOMAIN": host,
        "VERSION": version,
        "DEVELOPER_NAME": developer_name[:32],
        "WEBSITE_URL": website_url or home,
        "PRIVACY_URL": privacy_url or home,
        "TERMS_URL": terms_url or home,
    }
    missing = sorted(set(PLACEHOLDER.findall(json.dumps(template))) - set(values))
    if missing:
        raise CliError(f"the manifest template has unknown placeholders: {', '.join(missing)}")
    manifest: dict[str, Any] = _fill(template, values)
    for bot in manifest.get("bots", []):
        bot["commandLists"] = command_lists(commands)
    return manifest


def write_package(manifest: dict[str, Any], source: Path, out: Path) -> Path:
    """manifest.json and both icons at the zip's root (Teams refuses folders)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(TEMPLATE_NAME, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        for name in ICON_NAMES:
            archive.write(source / name, arcname=name)
    return out


def app_version() -> str:
    try:
        return metadata.version("impact-bot")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a bare source tree
        return "0.0.0"


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app-id", default="", help="the bot's Microsoft App ID (a GUID)")
    parser.add_argument("--domain", default="", help="the bot's public host, e.g. bot.trust.nhs.uk")
    parser.add_argument("--out", type=Path, default=Path("impact-bot.zip"))
    parser.add_argument("--version", default="", help="app version (default: this release's)")
    parser.add_argument("--developer-name", default="NHS organisation", help="your trust's name")
    parser.add_argument("--website-url", default="")
    parser.add_argument("--privacy-url", default="", help="your privacy notice (default: --domain)")
    parser.add_argument("--terms-url", default="")
    parser.add_argument("--source", type=Path, help="folder with manifest.json and the icons")


def package_command(commands: Callable[[], Sequence[TextCommand[Any]]]) -> CliCommand:
    """The command, given every feature's text commands (from the composition root)."""

    def run(_ctx: CliContext, args: argparse.Namespace) -> int:
        try:
            source = args.source or teams_folder()
            template = json.loads((source / TEMPLATE_NAME).read_text(encoding="utf-8"))
            manifest = build_manifest(
                template,
                commands(),
                app_id=args.app_id,
                domain=args.domain,
                version=args.version or app_version(),
                developer_name=args.developer_name,
                website_url=args.website_url,
                privacy_url=args.privacy_url,
                terms_url=args.terms_url,
            )
            out = write_package(manifest, source, args.out)
        except (CliError, OSError, json.JSONDecodeError) as exc:
            print(f"package: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {out} (app id {manifest['id']}, {manifest['validDomains'][0]})")
        return 0

    return CliCommand("package", "build the Teams app package (zip) to upload", _configure, run)
