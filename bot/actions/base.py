"""What every card action shares, and turning raw card data into one validated model.

Teams delivers a card action in two shapes: an `adaptiveCard/action` invoke (Action.Execute:
`value.action.verb`, `value.action.data`) or a message whose `value` is the data merged with the
card's inputs (the Action.Submit fallback). Both are unwrapped to one dict with a `verb`, which
`VerbTable.parse` validates against the model registered for that verb (a discriminated union
on `verb`, so each handler receives exactly its own type). Anything forged or malformed becomes
an `InvalidAction` with a message fit to show the person.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

# Ids are INTEGER columns (PostgreSQL int4): a larger one in card data would fail the query.
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Revision = Annotated[int, Field(ge=0, le=MAX_ID)]
QuestionNumber = Annotated[int, Field(ge=1, le=1000)]
Short = Annotated[str, StringConstraints(max_length=200)]
Long = Annotated[str, StringConstraints(max_length=20_000)]


class InvalidAction(Exception):
    """The submitted data is not a card action we can act on. Nothing has been changed."""


class CardAction(BaseModel):
    """Base of every card action model. A subclass declares `verb: Literal["its_verb"]` and the
    fields its card sends; inputs the card does not own are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    verb: str
    # The ids a refusal needs to put the person back on their live card, if the model has them.
    recovery_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def verb_name(cls) -> str:
        annotation = cls.model_fields["verb"].annotation
        values = get_args(annotation)
        if len(values) != 1 or not isinstance(values[0], str):
            raise TypeError(f"{cls.__name__}.verb must be a Literal of one string")
        return values[0]


class VerbTable:
    """Every registered verb's model, as one discriminated union."""

    def __init__(self, models: Iterable[type[CardAction]]) -> None:
        self.models = {model.verb_name(): model for model in models}
        if not self.models:
            raise ValueError("no card verbs registered")
        union = Union[tuple(self.models.values())]  # type: ignore[valid-type]  # noqa: UP007
        tagged: Any = Annotated[union, Field(discriminator="verb")]
        self._adapter: TypeAdapter[CardAction] = TypeAdapter(tagged)

    def parse(self, payload: Any) -> CardAction:
        if not isinstance(payload, dict):
            raise InvalidAction("that card sent no data I recognise")
        cleaned = {key: _blank_to_none(value) for key, value in payload.items()}
        verb = cleaned.get("verb")
        if not isinstance(verb, str) or verb not in self.models:
            raise InvalidAction("that card's verb is not one I know")
        try:
            return self._adapter.validate_python(cleaned)
        except ValidationError as exc:
            raise InvalidAction(
                f"that card sent something I can't use ({_first_problem(exc)})"
            ) from exc


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"][1:]) or "card"
    return f"{where}: {problem['msg']}"


def unwrap_invoke(value: Any) -> Any:
    """`adaptiveCard/action` invoke value → the action's data, with its verb."""
    if not isinstance(value, dict):
        return None
    action = value.get("action")
    if not isinstance(action, dict):
        return None
    data = action.get("data")
    data = dict(data) if isinstance(data, dict) else {}
    if "verb" in action:
        data["verb"] = action["verb"]
    return data


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def clean_text(text: str | None) -> str | None:
    """Stored as plain text: control characters (other than newlines and tabs) removed, trimmed."""
    if text is None:
        return None
    kept = "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())
    kept = kept.strip()
    return kept or None
