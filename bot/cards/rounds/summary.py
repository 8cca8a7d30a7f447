"""A team's round summary card, posted in the team's channel when a round closes.

Short enough to read on a phone: responses, the chart (with the same numbers in a FactSet for
clients that show no image, and alt text for screen readers), the two strongest and two weakest
questions, the change since the last round and the leaders/frontline gap when there is one, and
"Full results". A hidden team gets one clear sentence instead and no figures.
"""

from __future__ import annotations

from bot.cards.common import Card, Element, card, escape_markdown, execute, notice, text
from rounds.rules.summary import EvidenceFact, QuestionFact, SummaryView

__all__ = ["evidence_blocks", "summary_card"]


def _facts(pairs: list[tuple[str, str]]) -> Element:
    return {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in pairs]}


def _section(title: str) -> Element:
    return text(title, weight="bolder", spacing="medium")


def _questions(facts: tuple[QuestionFact, ...]) -> list[Element]:
    return [text(f"• {f.title} (Q{f.number}): **{f.text}**", spacing="small") for f in facts]


def evidence_blocks(facts: tuple[EvidenceFact, ...]) -> list[Element]:
    """The bot's own records beside a question, said to be evidence, not an answer."""
    if not facts:
        return []
    blocks = [_section("Evidence beside your answers")]
    blocks += [text(f"• Q{f.number} {f.title}: {f.text}.", spacing="small") for f in facts]
    blocks.append(
        text("From the bot's own records; no one's answers are changed.", size="small",
             subtle=True, spacing="none")
    )  # fmt: skip
    return blocks


def summary_card(view: SummaryView) -> Card:
    round_name, team_name = escape_markdown(view.round_name), escape_markdown(view.team_name)
    body: list[Element] = [
        text(f"{round_name}: results", size="medium", weight="bolder", heading=True),
        text(team_name, subtle=True, spacing="none"),
        text(f"Responses: **{view.responses}**", spacing="small"),
    ]
    speak = f"{view.round_name} results for {view.team_name}. {view.responses} responded."
    if view.suppressed:
        body.append(notice(f"{view.not_enough}."))
        body += evidence_blocks(view.evidence)
        return card(body, speak=f"{speak} {view.not_enough}.")

    if view.chart_url:
        body.append(
            {
                "type": "Image",
                "url": view.chart_url,
                "altText": view.chart_alt or "Bar chart of the median level per component",
                "size": "Stretch",
                "spacing": "medium",
            }
        )
    body.append(_section("Median level per component"))
    body.append(_facts([(c.name, c.text) for c in view.components]))
    if view.strongest:
        body.append(_section("Strongest"))
        body += _questions(view.strongest)
    if view.weakest:
        body.append(_section("Weakest"))
        body += _questions(view.weakest)
    if view.changes:
        since = escape_markdown(view.previous_round_name or "") or "the last round"
        body.append(_section(f"Change since {since}"))
        body.append(_facts([(c.name, c.text) for c in view.changes]))
    if view.gaps:
        body.append(_section("Leaders compared with frontline staff"))
        body.append(_facts([(g.name, g.text) for g in view.gaps]))
    body += evidence_blocks(view.evidence)
    body.append(
        text(
            f"Levels: {view.scale}. Results are shown only for groups of {view.min_group} or more.",
            size="small",
            subtle=True,
            spacing="medium",
        )
    )
    actions = [
        execute(
            "Full results",
            "results",
            {"round_id": view.round_id, "team_id": view.team_id},
            inputs="none",
        )
    ]
    return card(body, actions, speak=speak)
