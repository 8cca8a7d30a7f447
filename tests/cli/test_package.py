"""`impact-bot package`: the Teams app package. The manifest it writes is valid against the
official schema its `$schema` names (kept in the repository, so this runs offline), its command
lists are the features' own, the icons are the right size and kind, and the zip is laid out as
Teams requires. A missing or malformed id is refused in one line."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from PIL import Image

from bot.registry import TextCommand
from cli.package import (
    MAX_COMMANDS_PER_LIST,
    build_manifest,
    command_lists,
    teams_folder,
)
from cli.registry import CliError
from cli.teams_icons import draw_color_icon, draw_outline_icon
from impact.features import FEATURES
from impact.main import main
from tests.paths import REPO

pytestmark = pytest.mark.unit

TEAMS = REPO / "deployment" / "teams"
APP_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
DOMAIN = "impact-bot.example.nhs.uk"


def template() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((TEAMS / "manifest.json").read_text())
    return loaded


def all_commands() -> list[TextCommand[Any]]:
    return [command for feature in FEATURES for command in feature.commands]


def manifest(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"app_id": APP_ID, "domain": DOMAIN, "version": "1.2.3"}
    values.update(overrides)
    return build_manifest(template(), all_commands(), **values)


def schema_for(document: dict[str, Any]) -> dict[str, Any]:
    """The committed copy of the schema the manifest's `$schema` names."""
    version = document["$schema"].split("/teams/v")[1].split("/")[0]
    assert document["manifestVersion"] == version
    loaded: dict[str, Any] = json.loads(
        (TEAMS / f"MicrosoftTeams.v{version}.schema.json").read_text()
    )
    return loaded


def package(tmp_path: Path, *args: str) -> int:
    return main(["package", "--out", str(tmp_path / "impact-bot.zip"), *args])


def test_the_manifest_is_valid_against_the_schema_it_names() -> None:
    document = manifest()
    validator = jsonschema.Draft4Validator(
        schema_for(document), format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    problems = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]
    assert problems == []


def test_the_schema_check_bites() -> None:
    document = manifest()
    document["bots"][0]["scopes"].append("everywhere")
    del document["developer"]["privacyUrl"]
    validator = jsonschema.Draft4Validator(schema_for(document))
    assert len(list(validator.iter_errors(document))) == 2


def test_ids_domains_and_scopes_are_filled_in() -> None:
    document = manifest(app_id=APP_ID.upper(), domain=f"https://{DOMAIN}/")
    assert "{{" not in json.dumps(document)
    assert document["id"] == APP_ID
    assert document["bots"][0]["botId"] == APP_ID
    assert document["webApplicationInfo"]["id"] == APP_ID
    assert document["validDomains"] == [DOMAIN]
    assert document["version"] == "1.2.3"
    assert sorted(document["bots"][0]["scopes"]) == ["groupChat", "personal", "team"]
    assert document["developer"]["privacyUrl"] == f"https://{DOMAIN}/"
    permissions = {p["name"] for p in document["authorization"]["permissions"]["resourceSpecific"]}
    assert {"TeamMember.Read.Group", "ChannelMessage.Send.Group"} <= permissions


def test_descriptions_are_plain_and_within_teams_limits() -> None:
    description = manifest()["description"]
    assert len(description["short"]) <= 80
    assert len(description["full"]) <= 4000
    assert "*" not in description["full"]
    assert "<" not in description["full"]


def test_command_lists_are_the_features_own_titled_commands() -> None:
    lists = manifest()["bots"][0]["commandLists"]
    for scope, ours in (("personal", "personal"), ("team", "channel"), ("groupChat", "groupChat")):
        listed = [c["title"] for lst in lists if scope in lst["scopes"] for c in lst["commands"]]
        declared = [c.title for c in all_commands() if c.title and ours in c.menu_scopes]
        assert listed == declared, scope
    personal = next(lst for lst in lists if "personal" in lst["scopes"])
    assert "new round" not in [c["title"] for c in personal["commands"]], "menu=frozenset()"
    assert "commandLists" not in json.dumps(template()), "no second copy in the template"


async def _noop(*_args: object) -> None:  # a handler for made-up commands
    return None


def test_a_channel_command_is_listed_in_the_team_scope() -> None:
    huddle = TextCommand(
        _noop,  # type: ignore[arg-type]
        words=("huddle",),
        scopes=frozenset({"channel"}),
        title="huddle",
        description="Start a huddle",
    )
    lists = command_lists([*all_commands(), huddle])
    team = next(lst for lst in lists if "team" in lst["scopes"])
    assert team["commands"][-1] == {"title": "huddle", "description": "Start a huddle"}
    personal = next(lst for lst in lists if "personal" in lst["scopes"])
    assert "huddle" not in [c["title"] for c in personal["commands"]]


def test_more_commands_than_teams_lists_is_refused() -> None:
    many = [
        TextCommand(_noop, words=(f"word {n}",), title=f"word {n}")  # type: ignore[arg-type]
        for n in range(MAX_COMMANDS_PER_LIST + 1)
    ]
    with pytest.raises(CliError, match="at most 12"):
        command_lists(many)


def test_the_zip_has_the_manifest_and_both_icons_at_its_root(tmp_path: Path) -> None:
    assert package(tmp_path, "--app-id", APP_ID, "--domain", DOMAIN) == 0
    with zipfile.ZipFile(tmp_path / "impact-bot.zip") as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        written = json.loads(archive.read("manifest.json"))
        assert archive.read("color.png") == (TEAMS / "color.png").read_bytes()
    assert written["id"] == APP_ID
    assert written["icons"] == {"color": "color.png", "outline": "outline.png"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--domain", DOMAIN), "--app-id is required"),
        (("--app-id", "my-bot", "--domain", DOMAIN), "--app-id 'my-bot' is not a GUID"),
        (("--app-id", APP_ID[:-1], "--domain", DOMAIN), "is not a GUID"),
        (("--app-id", APP_ID, "--domain", "not a host"), "--domain 'not a host' is not a host"),
    ],
)
def test_a_missing_or_malformed_id_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    assert package(tmp_path, *args) == 1
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1
    assert not (tmp_path / "impact-bot.zip").exists()


def test_the_package_command_finds_its_files_from_the_source_tree() -> None:
    assert teams_folder() == TEAMS


# ---- icons ----------------------------------------------------------------------------------


def test_the_colour_icon_is_192_square_and_opaque() -> None:
    with Image.open(TEAMS / "color.png") as icon:
        assert icon.size == (192, 192)
        rgba = icon.convert("RGBA")
    assert rgba.getchannel("A").getextrema() == (255, 255)
    assert len(set(rgba.get_flattened_data())) > 2, "drawn, not a flat square"


def test_the_outline_icon_is_32_square_white_on_transparent() -> None:
    with Image.open(TEAMS / "outline.png") as icon:
        assert icon.size == (32, 32)
        assert icon.mode == "RGBA"
        pixels = list(icon.get_flattened_data())
    assert all((r, g, b) == (255, 255, 255) for r, g, b, a in pixels if a > 0)
    alphas = [alpha for *_rgb, alpha in pixels]
    assert alphas.count(0) > len(pixels) // 3, "mostly transparent"
    assert alphas.count(255) > 40, "a visible shape"


def test_the_committed_icons_are_what_the_drawing_code_draws() -> None:
    for name, drawn in (("color.png", draw_color_icon()), ("outline.png", draw_outline_icon())):
        with Image.open(TEAMS / name) as committed:
            assert list(committed.convert("RGBA").get_flattened_data()) == list(
                drawn.get_flattened_data()
            ), name
