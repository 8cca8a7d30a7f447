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
    selected_level: int | None = None
    comment: str | None = None
    comment_max_chars: int = 1000
    notice: str | None = None  # a short note shown above the question (stale card, ...)

    @property
    def can_go_back(self) -> bool:
        return self.number > 1


@dataclass(frozen=True)
class SettledView:
    """A question card after it was used: what is recorded, no live inputs."""

    component_name: str
    number: int
    total: int
    title: str
    level_name: str | None  # None: skipped / not answered
    comment: str | None
    status_line: str  # e.g. "Saved", "You went back to question 3"


@dataclass(frozen=True)
class ReviewRow:
    number: int
    title: str
    level_name: str | None  # None: skipped


@dataclass(frozen=True)
class ReviewSection:
    component_name: str
    rows: tuple[ReviewRow, ...]


@dataclass(frozen=True)
class ReviewView:
    ref: ActionRef
    total: int
    answered: int
    skipped: int
    sections: tuple[ReviewSection, ...]
    notice: str | None = None


@dataclass(frozen=True)
class ProfileLine:
    name: str
    level_label: str
    answered: int
    of: int


@dataclass(frozen=True)
class ProfileView:
    person_first_name: str
    submitted_on: str
    components: tuple[ProfileLine, ...]
    overall: ProfileLine
    notice: str | None = None
    reopen: ActionRef | None = None  # a round's assessment can be changed until the round closes


@dataclass(frozen=True)
class WelcomeView:
    title: str
    question_count: int
    component_names: tuple[str, ...]
    minutes: int = 10
    in_progress: bool = False
    answered: int = 0


@dataclass(frozen=True)
class ConfirmRestartView:
    ref: ActionRef
    answered: int
    total: int


@dataclass(frozen=True)
class NoticeView:
    """A short message with optional buttons (verb, title)."""

    text: str
    buttons: tuple[tuple[str, str], ...] = field(default_factory=tuple)
