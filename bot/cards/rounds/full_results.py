"""The full results of one team in a round (the summary card's "Full results"), for the
improvement team. Everything goes through rounds.rules.results' accessors, which return
nothing for a suppressed figure, so the anonymity rules hold here as on every other surface."""

from __future__ import annotations

from bot.cards.common import Card, Element, card, escape_markdown, execute, plain, text
from bot.cards.rounds.summary import evidence_blocks
from framework.content import Framework
from framework.scoring import level_label
from rounds.rules.results import RoundResults
from rounds.rules.summary import EvidenceFact
from rounds.rules.views import TeamProgress


def full_results_card(
    results: RoundResults,
    team_id: int,
    framework: Framework,
    *,
    can_export: bool = False,
    evidence: tuple[EvidenceFact, ...] = (),
) -> Card:
    team = results.team(team_id)
    body: list[Element] = [
        text(
            f"{escape_markdown(results.name)}: {escape_markdown(team.name)}",
            size="medium",
            weight="bolder",
            heading=True,
        ),
        text(f"{team.submitted} of {team.roster} responded."),
    ]
    actions = _export_actions(results.round_id) if can_export else []
    if team.reason is not None:
        body.append(text(results.reason_text(team.reason).capitalize() + "."))
        body += evidence_blocks(evidence)
        return card(body, actions)
    for component in team.figures.components:
        median = component.median()
        shown = "not enough answers" if median is None else level_label(framework, median)
        body.append(text(f"{component.name}: **{shown}**", weight="bolder", spacing="medium"))
        for question in team.figures.questions:
            if question.component_number != component.number:
                continue
            q_median, agreement = question.median(), question.modal_share()
            if q_median is None or agreement is None:
                line = "not enough answers"
            else:
                level = level_label(framework, q_median)
                line = f"{level} ({agreement:.0%} chose the most common level)"
            body.append(
                text(f"{question.number}. {question.title}: {line}", size="small", spacing="small")
            )
            body += [
                text(f"Evidence: {fact.text} (the bot's own records, not an answer).", size="small",
                     subtle=True, spacing="none")
                for fact in evidence if fact.number == question.number
            ]  # fmt: skip
    comments = team.comments()
    if comments:
        body.append(text("Comments (not attributed)", weight="bolder", spacing="medium"))
        body += [plain(c.text, label=f"Q{c.question_number}: ", subtle=True) for c in comments]
    elif team.comments_reason is not None:
        body.append(
            text(
                f"Comments: {results.comments_reason_text(team.comments_reason)}.",
                size="small",
                subtle=True,
            )
        )
    return card(body, actions)


def _export_actions(round_id: int) -> list[Element]:
    data = {"round_id": round_id}
    return [
        execute("Download CSV", "export", {**data, "fmt": "csv"}, inputs="none"),
        execute("Download Excel", "export", {**data, "fmt": "xlsx"}, inputs="none"),
    ]


def export_link_card(round_name: str, fmt: str, url: str, minutes: int) -> Card:
    label = "Excel" if fmt == "xlsx" else "CSV"
    return card(
        [
            text(
                f"{escape_markdown(round_name)}: results for every team ({label})", weight="bolder"
            ),
            text(
                f"Aggregated results only, with small groups suppressed. The link works for "
                f"{minutes} minutes.",
                size="small",
                subtle=True,
            ),
        ],
        [{"type": "Action.OpenUrl", "title": f"Download {label}", "url": url}],
    )


def progress_card(progress: TeamProgress, closes_on: str) -> Card:
    """A round that is not closed: its response count for the team, and when results come."""
    name, team = escape_markdown(progress.round_name), escape_markdown(progress.team_name)
    rate = progress.response_rate
    so_far = f"{progress.submitted} of {progress.roster} responded" + (
        f" ({rate:.0%})" if rate is not None else ""
    )
    when = (
        f"It closes on {closes_on}: its results are worked out then, once."
        if progress.status in ("open", "scheduled")
        else "It was cancelled, so it has no results."
    )
    return card(
        [
            text(f"{name}: {team}", size="medium", weight="bolder", heading=True),
            text(f"So far {so_far}."),
            text(
                f"{when} While a round is open only response counts are shown, so that nobody's "
                "answers can be worked out from results that change as people answer.",
                size="small",
                subtle=True,
            ),
        ]
    )
