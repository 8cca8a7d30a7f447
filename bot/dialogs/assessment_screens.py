"""The self-assessment's screens: an assessment's state → view models → cards, and the words of
every settled card. Pure (the framework, the zone and the comment limit are all it knows), so
every confirmation's wording can be checked for each verb and state without a chat."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from assessment import rules as domain
from bot.cards import assessment as cards
from bot.cards.assessment_views import (
    ActionRef,
    LevelChoice,
    NoticeView,
    ProfileLine,
    ProfileView,
    QuestionView,
    ReviewRow,
    ReviewSection,
    ReviewView,
    SettledView,
)
from bot.cards.common import Card
from framework.content import Component, Framework
from framework.identity import Identity
from framework.scoring import ENOUGH_ANSWERS_RULE, LevelSummary, profile
from store.assessments.live_cards import ShownCard
from store.assessments.round_info import RoundTiming

REVIEW_COMMENT_CHARS = 80
CONTINUED = "↓ Continued below."
SET_ASIDE = "ⓘ No longer active: your current card is below."
OUT_OF_DATE = "ⓘ This card is out of date, so nothing was changed: your current card is below."


@dataclass(frozen=True)
class Kept:
    """What the person had on a card that is shown again: their chosen level and comment."""

    level: int | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Words:
    """A settled card's words: what happened, and the answer only where there is one."""

    status: str
    answer: str | None = None


class Screens:
    def __init__(self, framework: Framework, zone: ZoneInfo, comment_max_chars: int) -> None:
        self.framework = framework
        self.zone = zone
        self.comment_max_chars = comment_max_chars

    # -- live screens ---------------------------------------------------------------------

    def question(
        self, snapshot: domain.Snapshot, number: int, notice: str | None, kept: Kept | None
    ) -> Card:
        question = self.framework.question(number)
        component = self.framework.component_of(number)
        recorded = snapshot.answers.get(number)
        saved_level = recorded.level if recorded else None
        chosen = kept.level if kept and kept.level else saved_level
        comment = (
            kept.comment if kept and kept.comment else (recorded.comment if recorded else None)
        )
        view = QuestionView(
            ref=ActionRef(snapshot.assessment_id, snapshot.revision),
            component_name=component.name,
            number=number,
            total=snapshot.question_count,
            title=question.title,
            levels=tuple(
                LevelChoice(level.value, level.name, descriptor.text)
                for level, descriptor in zip(self.framework.levels, question.levels, strict=True)
            ),
            practice=component.practice,
            chosen_level=chosen,
            chosen_is_saved=chosen is not None and chosen == saved_level,
            comment=comment,
            comment_max_chars=self.comment_max_chars,
            notice=notice,
        )
        return cards.question_card(view)

    def review(
        self, snapshot: domain.Snapshot, notice: str | None = None, *, confirm: bool = False
    ) -> Card:
        sections = tuple(
            ReviewSection(
                component_name=component.name,
                rows=tuple(
                    self._review_row(snapshot, q.number, q.title) for q in component.questions
                ),
            )
            for component in self.framework.components
        )
        view = ReviewView(
            ref=ActionRef(snapshot.assessment_id, snapshot.revision),
            total=snapshot.question_count,
            answered=snapshot.answered_count,
            skipped=snapshot.skipped_count,
            sections=sections,
            notice=notice,
            confirm_submit=confirm,
        )
        return cards.review_card(view)

    def _review_row(self, snapshot: domain.Snapshot, number: int, title: str) -> ReviewRow:
        recorded = snapshot.answers.get(number)
        comment = recorded.comment if recorded else None
        return ReviewRow(number, title, self.level_name(snapshot, number), shorten(comment))

    def profile(
        self,
        snapshot: domain.Snapshot,
        identity: Identity,
        notice: str | None = None,
        timing: RoundTiming | None = None,
    ) -> Card:
        levels = {number: answer.level for number, answer in snapshot.answers.items()}
        result = profile(self.framework, levels)
        components = tuple(
            self._profile_line(self.framework.components[c.number - 1], c.summary, levels)
            for c in result.components
        )
        overall = result.overall
        submitted = snapshot.submitted_at
        is_open_round = snapshot.round_id is not None and snapshot.status is domain.Status.SUBMITTED
        view = ProfileView(
            person_first_name=identity.name.split()[0] if identity.name.strip() else "",
            submitted_on=submitted.astimezone(self.zone).strftime("%-d %B %Y") if submitted else "",
            components=components,
            overall=ProfileLine(
                "Overall", overall.label(self.framework), overall.answered, overall.of,
                overall.enough,
            ),
            next_steps=self.next_steps(timing),
            enough_rule=ENOUGH_ANSWERS_RULE,
            notice=notice,
            reopen=(
                ActionRef(snapshot.assessment_id, snapshot.revision)
                if is_open_round and (timing is None or timing.status == "open")
                else None
            ),
        )  # fmt: skip
        return cards.profile_card(view)

    def _profile_line(
        self, component: Component, summary: LevelSummary, levels: dict[int, int | None]
    ) -> ProfileLine:
        meaning, source = self.meaning(component, summary.shown_median, levels)
        return ProfileLine(
            name=component.name,
            level_label=summary.label(self.framework),
            answered=summary.answered,
            of=summary.of,
            enough=summary.enough,
            meaning=meaning,
            meaning_source=source,
            practice=component.practice,
        )

    def meaning(
        self, component: Component, median: float | None, levels: dict[int, int | None]
    ) -> tuple[str | None, str | None]:
        """What a component's level means, in the seed's words: the first sentence of the
        descriptor at that level (the lower of two) of a question the person answered there,
        else of the component's first question."""
        if median is None:
            return None, None
        level = math.floor(median)
        numbers = [q.number for q in component.questions]
        there = [n for n in numbers if levels.get(n) == level]
        number = there[0] if there else numbers[0]
        return first_sentence(self.framework.descriptor(number, level)), f"question {number}"

    def next_steps(self, timing: RoundTiming | None) -> str:
        if timing is None:
            return (
                "Choose one component to work on with your team: its guidance shows what good "
                "looks like. You can take the self-assessment again at any time (type restart)."
            )
        closes = self.day(timing.closed_at or timing.closes_at)
        if timing.status in ("closed", "cancelled"):
            return f"{timing.name} closed on {closes}; your team's results went to its channel."
        return (
            f"Your answers count for {timing.name}. Your team's results go to its Teams channel "
            f"when the round closes on {closes}; until then you can change your answers."
        )

    def day(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).strftime("%A %-d %B")

    # -- settled cards --------------------------------------------------------------------

    def settled(self, snapshot: domain.Snapshot, number: int, words: Words) -> Card:
        question = self.framework.question(number)
        recorded = snapshot.answers.get(number)
        return cards.settled_card(
            SettledView(
                component_name=self.framework.component_of(number).name,
                number=number,
                total=snapshot.question_count,
                title=question.title,
                status=words.status,
                answer=words.answer,
                comment=recorded.comment if recorded and words.answer else None,
            )
        )

    def settled_after(self, command: domain.Command, after: domain.Snapshot) -> Card:
        """The card a command was pressed on, once the command is recorded."""
        total, answered = after.question_count, after.answered_count
        counts = f"({answered} of {total} answered)"
        match command:
            case domain.Submit():
                return cards.review_settled_card(f"✓ Submitted {counts}.")
            case domain.Change(question=q):
                return cards.review_settled_card(f"✓ You chose to change question {q}.")
            case domain.Back(question=q) if q > total:
                return cards.review_settled_card(f"✓ You went back to question {total}.")
            case domain.ChooseLevel(question=q) | domain.Skip(question=q) | domain.Back(question=q):
                return self.settled(after, q, self.words(command, after))
        raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover

    def words(self, command: domain.Command, after: domain.Snapshot) -> Words:
        """What a question card says once Next, Skip or Back was recorded on it."""
        question = getattr(command, "question", 0)
        level = self.level_name(after, question)
        match command:
            case domain.ChooseLevel():
                return Words("✓ Saved.", f"Your answer: **{level}**")
            case domain.Skip() if level is not None:
                return Words("✓ Moved on; your answer is kept.", f"Your answer: **{level}**")
            case domain.Skip():
                return Words("✓ Skipped.")
            case domain.Back() if level is not None:
                answer = f"Your answer to this question: **{level}**"
                return Words(f"✓ You went back to question {question - 1}.", answer)
            case domain.Back():
                return Words(f"✓ You went back to question {question - 1}.")
        raise AssertionError(f"no words for {command!r}")  # pragma: no cover

    def pressed_out_of_date(
        self, snapshot: domain.Snapshot | None, question: int | None, already_saved: bool
    ) -> Card:
        """An older card that was pressed: it settles, and the current card follows below."""
        if snapshot is None or question is None or not 1 <= question <= snapshot.question_count:
            return cards.notice_card(NoticeView(OUT_OF_DATE))
        level = self.level_name(snapshot, question)
        if already_saved and level is not None:
            return self.settled(
                snapshot, question, Words("✓ Already saved.", f"Your answer: **{level}**")
            )
        return self.settled(snapshot, question, Words(OUT_OF_DATE))

    def continued(self, previous: ShownCard, current: domain.Snapshot | None) -> Card:
        """The card that was live until another was posted below it."""
        same = current is not None and previous.assessment_id == current.assessment_id
        status = CONTINUED if same else SET_ASIDE
        total = self.framework.question_count
        if not 1 <= previous.position <= total:
            return cards.review_settled_card(status)
        question = self.framework.question(previous.position)
        return cards.settled_card(
            SettledView(
                component_name=self.framework.component_of(previous.position).name,
                number=previous.position,
                total=total,
                title=question.title,
                status=status,
            )
        )

    # -- helpers --------------------------------------------------------------------------

    def level_name(self, snapshot: domain.Snapshot, number: int) -> str | None:
        recorded = snapshot.answers.get(number)
        if recorded is None or recorded.level is None:
            return None
        return self.framework.level(recorded.level).name


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def first_sentence(text: str) -> str:
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0]


def shorten(text: str | None, limit: int = REVIEW_COMMENT_CHARS) -> str | None:
    if not text:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
