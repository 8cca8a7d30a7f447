"""The full results of one team in a round (the summary card's "Full results"), for the
improvement team. Everything goes through rounds.results' accessors, which return nothing for a
suppressed figure, so the anonymity rules hold here as on every other surface."""

from __future__ import annotations

from bot.cards.common import Card, Element, card, plain, text
from framework.content import Framework
from rounds.results import RoundResults


def _level(framework: Framework, value: float) -> str:
    low, high = int(value // 1), int(-(-value // 1))
    if low == high:
        return framework.level(low).name
    return f"{framework.level(low).name} to {framework.level(high).name}"


def full_results_card(results: RoundResults, team_id: int, framework: Framework) -> Card:
    team = results.team(team_id)
    body: list[Element] = [
        text(f"{results.name}: {team.name}", size="medium", weight="bolder", heading=True),
        text(f"{team.submitted} of {team.roster} responded."),
    ]
    if team.reason is not None:
        body.append(text(results.reason_text(team.reason).capitalize() + "."))
        return card(body)
    for component in team.figures.components:
        median = component.median()
        shown = "not enough answers" if median is None else _level(framework, median)
        body.append(text(f"{component.name}: **{shown}**", weight="bolder", spacing="medium"))
        for question in team.figures.questions:
            if question.component_number != component.number:
                continue
            q_median, agreement = question.median(), question.modal_share()
            if q_median is None or agreement is None:
                line = "not enough answers"
            else:
                line = (
                    f"{_level(framework, q_median)} ({agreement:.0%} chose the most common level)"
                )
            body.append(
                text(f"{question.number}. {question.title}: {line}", size="small", spacing="small")
            )
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
    return card(body)
