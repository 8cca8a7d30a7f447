"""How long the self-assessment takes, measured from its words rather than guessed.

What a person reads to answer is each question's title and its five level descriptors. At an
unhurried 200 to 250 words a minute (careful reading, not skimming), that is the time it takes;
the welcome card says it, rounded to five minutes.
"""

from __future__ import annotations

from framework.content import Framework

WORDS_PER_MINUTE = (200, 250)  # slower and faster careful readers


def reading_words(framework: Framework) -> int:
    """Words in every question's title and level descriptors."""
    return sum(
        len(question.title.split()) + sum(len(level.text.split()) for level in question.levels)
        for question in framework.questions
    )


def reading_minutes(framework: Framework) -> tuple[int, int]:
    """(fewest, most) minutes, each rounded to the nearest five (at least five)."""
    words = reading_words(framework)
    slow, fast = WORDS_PER_MINUTE
    return _to_five(words / fast), _to_five(words / slow)


def _to_five(minutes: float) -> int:
    return max(5, 5 * round(minutes / 5))
