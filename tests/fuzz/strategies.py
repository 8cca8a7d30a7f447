"""What the fuzz test sends, as Hypothesis strategies: card data for every verb every feature
declares (enumerated from impact.features, so a new verb is fuzzed without editing this file),
the words of every text command, odd and huge strings, wrong types, and broken activities.

Everything here is pure and independent of the world, as Hypothesis needs: a value that must
come from the world (an id in the database, a button on a card in the chat) is drawn as a `Ref`
(an index), which the test resolves against the world when it sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from bot.actions.base import MAX_ID, CardAction, InvalidAction, VerbTable
from bot.registry import Scope
from impact.features import FEATURES


@dataclass(frozen=True)
class Ref:
    """The `index`-th (modulo its length) of a list the world provides when the input is sent:
    `int` the ids and revisions in the database, `text` its string ids, `intstr` an id as text."""

    pool: str
    index: int


def refs(pool: str) -> st.SearchStrategy[Ref]:
    return st.builds(Ref, st.just(pool), st.integers(0, 10_000))


def resolve(value: Any, ints: list[int], texts: list[str]) -> Any:
    """`value` with every Ref replaced by what it points to in the world."""
    if isinstance(value, Ref):
        if value.pool == "text":
            return texts[value.index % len(texts)] if texts else ""
        chosen = ints[value.index % len(ints)] if ints else value.index
        return str(chosen) if value.pool == "intstr" else chosen
    if isinstance(value, dict):
        return {key: resolve(item, ints, texts) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, ints, texts) for item in value]
    return value


@dataclass(frozen=True)
class VerbSpec:
    verb: str
    model: type[CardAction]
    scopes: frozenset[Scope]
    feature: str


VERBS: tuple[VerbSpec, ...] = tuple(
    VerbSpec(v.verb, v.model, v.scopes, f.name) for f in FEATURES for v in f.verbs
)
VERB_TABLE = VerbTable(spec.model for spec in VERBS)
COMMAND_WORDS: tuple[str, ...] = tuple(
    word for f in FEATURES for command in f.commands for word in command.words
)
# Phrases the features' matchers take (not exact words), and near misses of them.
MATCHER_PHRASES: tuple[str, ...] = (
    "away until 24 December",
    "away until yesterday",
    "away until 31 February",
    "away until 99999-01-01",
    "reminders every day 20:00-06:00",
    "reminders mon-fri 09:00-17:00",
    "reminders 25:00-99:99",
    "reminders every day",
    "huddle pause",
    "huddle resume",
    "huddle skip 2026-12-25",
    "huddle skip 0000-00-00",
    "huddle delete",
    "huddle skip",
)

# Strings a person (or a forger) might send: markup, injection, direction overrides, emoji
# sequences, combining marks, control characters, NUL, a lone surrogate.
ODD_STRINGS: tuple[str, ...] = (
    "",
    " ",
    "\n\t\r",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff x",
    "\u202e\u2066evil\u2069",
    "\u200b\u200c\u200d\ufeff",
    "👩‍⚕️👨🏽‍🔬🏳️‍🌈",
    "Z̷̢̛̛͎a̶l̸g̵o̴",
    "[click](https://evil.example)",
    '=HYPERLINK("https://evil.example","x")',
    "+cmd|' /C calc'!A0",
    "<at>NHS IMPACT</at> start",
    "<script>alert(1)</script>",
    "'; DROP TABLE people; --",
    "%s%s%s%n",
    "{{7*7}}",
    "null",
    "NaN",
    "-1",
    "0",
    "9" * 40,
    "ｓｔａｒｔ",
    "İstanbul ß ﬁ",
    "\U0010ffff",
)

HUGE_SIZES = (201, 1_001, 20_001, 120_000)
ID_FIELDS = frozenset(
    {"aid", "round", "round_id", "team_id", "huddle", "schedule", "team", "parent", "item"}
    | {"work", "goal", "goals", "aim", "page"}
)
EDGE_INTS = (0, -1, 1, MAX_ID, MAX_ID + 1, 2**63, -(2**63), 10**30)


def huge_strings() -> st.SearchStrategy[str]:
    return st.builds(
        lambda unit, size: (unit * size)[:size],
        st.sampled_from(["a", "é", "👩‍⚕️", "\u0301", "x\n", "\x00"]),
        st.sampled_from(HUGE_SIZES),
    )


def strings() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=40),
        st.sampled_from(ODD_STRINGS),
        huge_strings(),
        st.sampled_from(COMMAND_WORDS + MATCHER_PHRASES),
    )


def names() -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=256), st.sampled_from(ODD_STRINGS))


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value (and Python's NaN and infinities, which json.dumps writes)."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.sampled_from(EDGE_INTS),
        strings(),
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=8,
    )


def _schema_of(model: type[CardAction], field: str) -> dict[str, Any]:
    props: dict[str, Any] = model.model_json_schema()["properties"]
    schema: dict[str, Any] = props.get(field, {})
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return {**option, "nullable": True}
    return schema


def field_value(model: type[CardAction], field: str) -> st.SearchStrategy[Any]:
    """A value for one field of a verb's model: mostly of its own type (ids from the world's,
    others' and unknown ones), sometimes of another type entirely."""
    schema = _schema_of(model, field)
    kind = schema.get("type")
    own: st.SearchStrategy[Any]
    if "enum" in schema or "const" in schema:
        own = st.sampled_from(list(schema.get("enum", [schema.get("const")])))
    elif kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        own = st.one_of(
            refs("int"),
            refs("int"),
            st.integers(min_value=low, max_value=min(high or 60, 60)),
            st.sampled_from(EDGE_INTS),
            refs("intstr"),
        )
    elif kind == "boolean":
        own = st.one_of(st.booleans(), st.sampled_from(["true", "false", "yes", 1, 0]))
    elif field in ID_FIELDS:
        own = st.one_of(
            refs("text"),
            refs("intstr"),
            strings(),
        )
    else:
        own = strings()
    return st.one_of(own, own, own, json_values())


@st.composite
def verb_data(draw: st.DrawFn, spec: VerbSpec) -> dict[str, Any]:
    """Card data for one verb: its fields (some missing, some of the wrong type), extra fields,
    and now and then a verb that is not quite this one."""
    data: dict[str, Any] = {"verb": spec.verb}
    for name in spec.model.model_fields:
        if name == "verb" or draw(st.integers(0, 9)) == 0:
            continue  # a missing field
        data[name] = draw(field_value(spec.model, name))
    extras = draw(
        st.dictionaries(
            st.sampled_from(["x", "verb2", "__proto__", "aid", "msteams", "", "data", "action"]),
            json_values(),
            max_size=2,
        )
    )
    for key, value in extras.items():
        data.setdefault(key, value)
    mangle = draw(st.integers(0, 19))
    if mangle == 0:
        data["verb"] = draw(json_values())
    elif mangle == 1:
        data["verb"] = draw(
            st.sampled_from(
                [spec.verb.upper(), f" {spec.verb}", spec.verb + "x", "", "unknown_verb"]
            )
        )
    elif mangle == 2:
        del data["verb"]
    return data


def parses(payload: Any) -> CardAction | None:
    """The model the router would hand a handler, or None if it would refuse the data."""
    try:
        return VERB_TABLE.parse(payload)
    except InvalidAction:
        return None


def spec_of(action: CardAction) -> VerbSpec:
    return next(spec for spec in VERBS if spec.model is type(action))


ACTIVITY_KEYS = (
    "type", "id", "from", "conversation", "recipient", "serviceUrl", "channelId", "value",
    "text", "channelData", "replyToId", "name", "timestamp", "locale", "localTimezone",
    "membersAdded", "attachments", "entities",
)  # fmt: skip
# Keys whose loss or mangling leaves no sender or no conversation to act for.
IDENTITY_KEYS = frozenset({"from", "conversation", "type", "serviceUrl", "recipient"})


@dataclass(frozen=True)
class Breakage:
    """How to break an activity: replace it whole (`key` None), drop a key, or mistype it."""

    key: str | None
    drop: bool
    value: Any

    def apply(self, activity: dict[str, Any]) -> tuple[Any, bool]:
        """The broken activity, and whether it still names a sender and a conversation."""
        if self.key is None:
            return self.value, False
        mutated = dict(activity)
        if self.drop:
            mutated.pop(self.key, None)
        else:
            mutated[self.key] = self.value
        return mutated, self.key not in IDENTITY_KEYS


def breakages() -> st.SearchStrategy[Breakage]:
    return st.one_of(
        st.builds(Breakage, st.none(), st.just(False), json_values()),
        st.builds(Breakage, st.sampled_from(ACTIVITY_KEYS), st.booleans(), json_values()),
    )


def text_messages() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(COMMAND_WORDS),
        st.sampled_from(MATCHER_PHRASES),
        st.builds(lambda w: f"<at>NHS IMPACT</at> {w}", st.sampled_from(COMMAND_WORDS)),
        st.builds(
            lambda w, s: f"{w}{s}", st.sampled_from(COMMAND_WORDS), st.sampled_from(ODD_STRINGS)
        ),
        strings(),
    )


def invoke_names() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from([
            "adaptiveCard/action", "task/fetch", "task/submit", "composeExtension/query",
            "signin/verifyState", "config/fetch", "message/submitAction",
            "actionableMessage/executeAction",
            "fileConsent/invoke", "tab/fetch", "handoff/action", "", "healthCheck",
        ]),
        st.text(max_size=30),
    )  # fmt: skip


def all_verbs() -> Iterable[str]:
    return (spec.verb for spec in VERBS)
