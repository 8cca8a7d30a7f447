"""Typed view models: everything a card shows and nothing else; cards are pure functions of them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ActionRef:
    """What every assessment card action carries back: which assessment, at which revision."""

    assessment_id: int
    token: int


@dataclass(frozen=True)
class LevelChoice:
    value: int
    name: str
    descriptor: str


@dataclass(frozen=True)
class QuestionView:
    ref: ActionRef
    component_name: str
    number: int
    total: int
    title: str
    levels: tuple[LevelChoice, ...]
    practice: tuple[str, ...]
    chosen_level: int | None = None  # marked on the card, and what Next records
    chosen_is_saved: bool = False  # the recorded answer (after Back), not a choice just made
    comment: str | None = None
    comment_max_chars: int = 1000
    notice: str | None = None  # a short note shown above the question (stale card, ...)

    @property
    def can_go_back(self) -> bool:
        return self.number > 1


@dataclass(frozen=True)
class SettledView:
    """A question card after it was used: what happened, in words that are true; no buttons."""

    component_name: str
    number: int
    total: int
    title: str
    status: str  # "✓ Saved.", "✓ Skipped.", "✓ You went back to question 2.", "↓ Continued below."
    answer: str | None = None  # "Your answer: **Progressing**", only where there is one to show
    comment: str | None = None  # shown with the answer


@dataclass(frozen=True)
class ReviewRow:
    number: int
    title: str
    level_name: str | None  # None: skipped
    comment: str | None = None  # shortened for the review


@dataclass(frozen=True)
class ReviewSection:
    component_name: str
    rows: tuple[ReviewRow, ...]

    @property
    def skipped(self) -> int:
        return sum(1 for row in self.rows if row.level_name is None)


@dataclass(frozen=True)
class ReviewView:
    ref: ActionRef
    total: int
    answered: int
    skipped: int
    sections: tuple[ReviewSection, ...]
    notice: str | None = None
    confirm_submit: bool = False  # most were skipped and the person has been told: Submit anyway


@dataclass(frozen=True)
class ProfileLine:
    name: str
    level_label: str
    answered: int
    of: int
    enough: bool = True  # at least half answered: a level is shown
    meaning: str | None = None  # the level in the seed's own words (a descriptor's first sentence)
    meaning_source: str | None = None  # where that comes from, e.g. "question 3"
    practice: tuple[str, ...] = ()  # the component's "What this looks like in practice"


@dataclass(frozen=True)
class ProfileView:
    person_first_name: str
    submitted_on: str
    components: tuple[ProfileLine, ...]
    overall: ProfileLine
    next_steps: str = ""
    enough_rule: str = ""  # said once, where a component shows "Not enough answers"
    notice: str | None = None
    reopen: ActionRef | None = None  # a round's assessment can be changed until the round closes


@dataclass(frozen=True)
class WelcomeView:
    title: str
    question_count: int
    component_names: tuple[str, ...]
    minutes: tuple[int, int]  # (fewest, most), measured from the words to read
    answered: int = 0  # answered so far in an assessment in progress (0: offer Start)


@dataclass(frozen=True)
class ConfirmRestartView:
    ref: ActionRef
    answered: int
    total: int
    submitted: bool = False  # starting again after a submit: the submitted answers stay


@dataclass(frozen=True)
class NoticeView:
    """A short message with optional buttons (verb, title)."""

    text: str
    buttons: tuple[tuple[str, str], ...] = field(default_factory=tuple)
