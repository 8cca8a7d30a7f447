"""The huddle cards are pure functions of their view models and keep every Teams card rule:
schema 1.5, small enough (the fullest prompt too), labelled inputs, Action.Execute with an
Action.Submit fallback, typed text as TextRuns, meaning in words, the lead @mentioned."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from bot.cards.huddles.boards import (
    MAX_LISTED_ITEMS,
    digest_card,
    item_list_card,
    notice_card,
    nudge_card,
)
from bot.cards.huddles.prompt import prompt_card
from bot.cards.huddles.schedules import (
    MAX_TREE_CHOICES,
    schedule_form_card,
    schedules_card,
    tree_card,
)
from framework.huddle_formats import default_huddle_formats
from huddles.rules.views import (
    Choice,
    DigestSection,
    DigestView,
    Draft,
    ItemLine,
    ItemListView,
    Mention,
    NoticeView,
    NudgeView,
    PromptView,
    ScheduleFormView,
    ScheduleLine,
    SchedulesView,
    TreeLine,
    TreeView,
)
from huddles.services.digests import MOST_QUOTED, MOST_TEAMS, QUOTE_CHARS
from tests.bot.cards.test_cards import ALLOWED_TYPES, MAX_CARD_BYTES, walk

pytestmark = pytest.mark.unit

FORMATS = default_huddle_formats()
LONGEST = "w" * 500  # the longest text an item may have


def line(kind: str, n: int, text: str = LONGEST, flag: str = "") -> ItemLine:
    return ItemLine(f"{kind}:{n}:0", kind, text, "Sam Lead · due Fri 27 Nov", flag,
                    f"{kind.capitalize()}: {text[:59]}…")  # fmt: skip


def prompt(**overrides: Any) -> PromptView:
    values: dict[str, Any] = {
        "huddle_id": 41,
        "team_name": "Ward 7",
        "schedule_name": "Morning huddle",
        "format": FORMATS.format("improvement"),
        "when": "Thursday 26 November, 08:30",
        "leads": (Mention("29:sam", "Sam Lead"), Mention("29:ada", "Ada Owner")),
        "owners": (Choice("me", "Me"), *(Choice(f"29:{n}", f"Person {n}") for n in range(100))),
        "today": "2026-11-26",
    }
    values.update(overrides)
    return PromptView(**values)


def fullest_prompt() -> PromptView:
    return prompt(
        ideas=tuple(line("idea", n) for n in range(5)),
        actions=tuple(line("action", n, flag="Overdue") for n in range(5)),
        escalations=tuple(line("escalation", n) for n in range(5)),
        more="And 3 more ideas (type ideas).",
        attendance=12,
        outcome="Held",
        outcome_note=LONGEST,
        notice="✓ Nia Nurse added an idea.",
    )


def all_cards() -> dict[str, dict[str, Any]]:
    schedule_line = ScheduleLine(3, "Morning huddle", "Ward 7", "Weekly improvement huddle",
                                 "Mondays to Fridays at 08:30 (Europe/London)", "General",
                                 "Next prompt Thursday 26 November at 08:25")  # fmt: skip
    return {
        "prompt": prompt_card(prompt()),
        "fullest prompt": prompt_card(fullest_prompt()),
        "safety prompt": prompt_card(prompt(format=FORMATS.format("safety"))),
        "ideas": item_list_card(
            ItemListView(
                "Ward 7",
                "Open ideas",
                tuple(line("idea", n) for n in range(30)),
                "ideas",
                "No open ideas.",
            )
        ),
        "no actions": item_list_card(ItemListView("Ward 7", "Open actions", (), "actions", "None")),
        "notice": notice_card(
            NoticeView(
                "Escalation unblocked",
                ("Ward 7 escalated this",),
                (("Escalation: ", LONGEST), ("Their note: ", LONGEST)),
            )
        ),
        "nudge": nudge_card(NudgeView("action:3:0", LONGEST, "Ward 7", "Fri 27 Nov")),
        "digest": digest_card(
            DigestView(
                "Huddles across the teams",
                "The last four weeks",
                (
                    DigestSection("All teams", (("Huddles held", "300 of 400"),) * 6),
                    DigestSection(
                        "Each team",
                        tuple(
                            (
                                f"Team {n:02d} of the trust",
                                "held 13 of 20, 12.5 "
                                "here, 3 ideas in test, 12 actions overdue, 4 escalations",
                            )
                            for n in range(MOST_TEAMS)
                        ),
                    ),
                    DigestSection(
                        "Escalations at the top of the cascade",
                        quoted=(("Ward 7 → Executive, 12 days: ", "q" * QUOTE_CHARS),)
                        * MOST_QUOTED,
                    ),
                ),
            )
        ),
        "schedules": schedules_card(
            SchedulesView("Huddles: Ward 7", (schedule_line,) * 3, True, team_id="19:w")
        ),
        "schedules of several teams": schedules_card(
            SchedulesView("Huddles of your teams", (schedule_line,), True),
            (Choice("19:a", "Ward 7"), Choice("19:b", "Ward 9")),
        ),
        "schedule form": schedule_form_card(
            ScheduleFormView(
                (Choice("19:w", "Ward 7"),),
                (Choice("19:w", "General"), Choice("19:n", "Nights")),
                tuple(Choice(f.id, f.name) for f in FORMATS.formats),
                "Europe/London",
            )
        ),
        "tree": tree_card(
            TreeView(
                (TreeLine("Executive", 0), TreeLine("Medicine", 1)),
                (Choice("19:e", "Executive"), Choice("19:m", "Medicine")),
            )
        ),
    }


def elements(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every element and action of a card (not its msteams entities, which are not elements)."""
    return walk({"body": card["body"], "actions": card.get("actions", [])})


@pytest.mark.parametrize("name", list(all_cards()))
def test_every_huddle_card_keeps_the_teams_rules(name: str) -> None:
    card = all_cards()[name]
    assert card["type"] == "AdaptiveCard"
    assert float(card["version"]) <= 1.5
    assert len(json.dumps(card).encode()) < MAX_CARD_BYTES
    for row in button_rows(card):
        assert len(row) <= MAX_BUTTONS, "renderers show five buttons in a set (Teams six)"
    for element in elements(card):
        assert element["type"] in ALLOWED_TYPES, element["type"]
        if element["type"].startswith("Action."):
            assert element.get("title"), "every button says what it does"
        if element["type"] == "Action.Execute":
            fallback = element["fallback"]
            assert fallback["type"] == "Action.Submit"
            assert fallback["data"] == element["data"]
            assert element["data"]["verb"] == element["verb"]
        if element["type"] == "TextBlock":
            assert element.get("wrap") is True, "text wraps on a phone"
        if element["type"].startswith("Input."):
            assert element.get("label"), "inputs are labelled for screen readers"
        for choice in element.get("choices", []) if element["type"] == "Input.ChoiceSet" else []:
            assert choice["title"], "every choice says what it is"
            assert choice["value"], "an empty value is no choice to a renderer"
    assert "ToggleVisibility" not in json.dumps(card)


MAX_BUTTONS = 5  # the Adaptive Cards renderers' default maxActions (the render check's)


def button_rows(card: dict[str, Any]) -> list[list[str]]:
    """The titles of each row of buttons a person sees on the card as it opens: the ActionSets
    in its body, in order, then the card's own buttons (forms' buttons are inside them)."""

    def sets(elements: list[dict[str, Any]]) -> list[list[str]]:
        found: list[list[str]] = []
        for element in elements:
            if element["type"] == "ActionSet":
                found.append([a["title"] for a in element["actions"]])
            found += sets(element.get("items", []))
        return found

    return [*sets(card["body"]), [a["title"] for a in card.get("actions", [])]]


def test_the_prompt_mentions_its_leads_and_starts_where_the_team_left_off() -> None:
    card = prompt_card(fullest_prompt())
    assert card["msteams"]["entities"] == [
        {"type": "mention", "text": "<at>Sam Lead</at>",
         "mentioned": {"id": "29:sam", "name": "Sam Lead"}},
        {"type": "mention", "text": "<at>Ada Owner</at>",
         "mentioned": {"id": "29:ada", "name": "Ada Owner"}},
    ]  # fmt: skip
    texts = [e.get("text", "") for e in card["body"]]
    assert texts.index("Where we left off") < texts.index("Today's huddle")
    assert [e["text"] for e in walk(card) if e.get("type") == "TextRun"].count("Overdue · ") == 5


def test_each_button_sits_beside_what_it_changes_in_rows_that_fit_a_phone() -> None:
    card = prompt_card(fullest_prompt())
    assert button_rows(card) == [
        ["Update an item"],  # below the items
        ["I'm here", "Held or not"],  # below the count and whether it was held
        ["Add idea", "Add action", "Add escalation"],  # the card's own buttons
    ]
    said = [e.get("text", "") or e.get("type") for e in card["body"]]
    assert said.index("Escalations waiting (5)") < said.index("ActionSet")
    assert said.index("ActionSet") < said.index("Today's huddle")
    assert said[-3:] == ["FactSet", "RichTextBlock", "ActionSet"]  # here, held, the lead's notes


def test_a_format_offers_only_what_it_captures_and_nothing_open_needs_no_update() -> None:
    rows = button_rows(prompt_card(prompt(format=FORMATS.format("safety"))))
    assert rows == [["I'm here", "Held or not"], ["Add action", "Add escalation"]]


def test_typed_text_is_never_markdown_and_a_refused_form_comes_back_filled_in() -> None:
    typed = "[click](http://evil.example) **bold**"
    card = prompt_card(
        prompt(
            ideas=(line("idea", 1, typed),),
            draft=Draft("action", "Order pads", "29:7", "2026-12-01"),
        )
    )
    assert all("evil" not in e["text"] for e in walk(card) if e.get("type") == "TextBlock")
    assert typed in [e["text"] for e in walk(card) if e.get("type") == "TextRun"]
    values = {e["id"]: e.get("value") for e in walk(card) if "id" in e}
    assert (values["action_text"], values["action_owner"], values["action_due"]) == (
        "Order pads", "29:7", "2026-12-01",
    )  # fmt: skip
    assert values["idea_text"] is None


def test_a_confirmation_is_bold_and_a_refusal_is_a_notice() -> None:
    confirmed = prompt_card(prompt(notice="✓ Nia Nurse is here."))["body"][0]
    assert (confirmed["type"], confirmed["weight"]) == ("TextBlock", "bolder")
    refused = prompt_card(prompt(notice="You're already counted."))["body"][0]
    assert refused["type"] == "Container"
    assert refused["items"][0]["text"] == "ⓘ You're already counted."


def test_the_schedule_form_wraps_each_format_and_gives_back_the_bank_holiday_choice() -> None:
    view = ScheduleFormView(
        (Choice("19:w", "Ward 7"),), (Choice("19:w", "General"),),
        tuple(Choice(f.id, f"{f.name}: {f.description}") for f in FORMATS.formats),
        "Europe/London",
    )  # fmt: skip
    fresh = {e["id"]: e for e in walk(schedule_form_card(view)) if "id" in e}
    assert fresh["format"]["wrap"] is True, "a format's description is read whole on a phone"
    assert fresh["bank_holidays"]["value"] == "true"
    given_back = schedule_form_card(replace(view, skip_bank_holidays=False))
    assert {e["id"]: e.get("value") for e in walk(given_back) if "id" in e}["bank_holidays"] == (
        "false"
    )


def test_schedules_keep_their_four_buttons_below_the_choice_and_new_is_the_cards_own() -> None:
    line = ScheduleLine(3, "Morning huddle", "Ward 7", "Daily safety huddle", "Mondays at 08:30",
                        "General", "Paused")  # fmt: skip
    card = schedules_card(SchedulesView("Huddles: Ward 7", (line,), True, team_id="19:w"))
    assert button_rows(card) == [["Pause", "Resume", "Skip", "Delete"], ["New schedule"]]
    assert [e["type"] for e in card["body"]][-2:] == ["Input.ChoiceSet", "ActionSet"]
    alone = schedules_card(SchedulesView("Huddles: Ward 7", (), True, team_id="19:w"))
    assert button_rows(alone) == [["New schedule"]]


def size(card: dict[str, Any]) -> int:
    return len(json.dumps(card, ensure_ascii=False).encode())


def text_of(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


def test_long_lists_are_cut_short_and_say_how_many_more() -> None:
    ideas = ItemListView("Ward 7", "Open ideas", tuple(line("idea", n) for n in range(50)),
                         "ideas", "No open ideas.")  # fmt: skip
    card = item_list_card(ideas)
    shown = [e for e in elements(card) if e.get("type") == "RichTextBlock"]
    assert len(shown) == 2 * MAX_LISTED_ITEMS  # each item: its words, then its detail
    assert "…and 30 more ideas." in text_of(card)
    assert size(card) < MAX_CARD_BYTES
    schedules = SchedulesView("Huddle schedules", tuple(
        ScheduleLine(n, "s" * 80, "t" * 80, "Daily safety huddle", "Mondays to Fridays at 08:30",
                     "General", "Next prompt Tuesday 3 March at 08:25") for n in range(60)),
        can_add=True)  # fmt: skip
    assert "…and 40 more schedules." in text_of(schedules_card(schedules))
    assert size(schedules_card(schedules)) < MAX_CARD_BYTES


def test_a_trusts_tree_is_arranged_from_the_cli_not_a_card_too_big_for_teams() -> None:
    teams = tuple(Choice(f"19:{'x' * 40}-{n}@thread.tacv2", f"Team {n} " + "n" * 60)
                  for n in range(300))  # fmt: skip
    tree = tree_card(TreeView(tuple(TreeLine(c.title, n % 3) for n, c in enumerate(teams)), teams))
    assert not [e for e in elements(tree) if e.get("type") == "Input.ChoiceSet"]
    assert "impact-bot teams parent" in text_of(tree)
    assert "…and 260 more teams." in text_of(tree)
    assert size(tree) < MAX_CARD_BYTES
    small = tree_card(TreeView(tuple(TreeLine(c.title, 0) for c in teams[:MAX_TREE_CHOICES]),
                               teams[:MAX_TREE_CHOICES]))  # fmt: skip
    assert len([e for e in elements(small) if e.get("type") == "Input.ChoiceSet"]) == 2
    assert size(small) < MAX_CARD_BYTES


def test_names_people_chose_are_never_markdown() -> None:
    rogue = "[click](https://evil.example) **urgent**"
    schedules = SchedulesView(
        "Huddle schedules",
        (ScheduleLine(1, rogue, rogue, "Daily safety huddle", "daily", "General", "Paused"),),
        can_add=False,
    )
    tree = tree_card(TreeView((TreeLine(rogue, 1),), (Choice("19:a", rogue),)))
    for card in (schedules_card(schedules), tree):
        texts = [e["text"] for e in elements(card) if e.get("type") == "TextBlock"]
        assert not any("[click](https" in t for t in texts)
        assert any(r"\[click\]\(https://evil\.example\)" in t for t in texts)


def test_a_digest_names_long_team_names_above_their_figures_and_escapes_them() -> None:
    short = digest_card(DigestView("D", "p", (DigestSection("All", (("Held", "2 of 4"),)),)))
    assert any(block.get("type") == "FactSet" for block in short["body"])
    named = "[Ward 7](https://evil.example) night shift"
    long = digest_card(DigestView("D", "p", (DigestSection("Each", ((named, "held 2"),)),)))
    assert not any(block.get("type") == "FactSet" for block in long["body"])
    texts = [block.get("text", "") for block in long["body"]]
    assert "**\\[Ward 7\\]\\(https://evil\\.example\\) night shift**" in texts
    assert "held 2" in texts
