"""bot/activity_codec.py gives exactly what msrest gives: activities read from generated JSON
(odd ones too) and written from generated models, each compared with msrest's own result; the
fast path turns itself off rather than drop a field a botbuilder upgrade adds; and where msrest
still does the work, its one shared Serializer and Deserializer give what msrest's own calls
give and leave no cyclic garbage (the module's docstring says why that matters)."""

from __future__ import annotations

import copy
import functools
import gc
import importlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from botbuilder import schema
from botbuilder.core import TurnContext
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
    Mention,
)
from botbuilder.schema.teams import TeamsChannelAccount
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import MicrosoftAppCredentials
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from msrest.serialization import Model

from bot import activity_codec
from bot.activity_codec import (
    VERIFIED_FIELDS,
    activity_from_json,
    fast_activity_json,
    model_json,
)
from bot.adapter import (
    ReplyActivity,
    SharedCardContent,
    use_fast_activity_bodies,
    use_fast_json_objects,
)

pytestmark = pytest.mark.unit

EXAMPLES = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- comparing results --------------------------------------------------------------------


def state(value: Any) -> Any:
    """Everything observable of a deserialised value: classes, every attribute (additional
    properties included), datetimes with their zone's class and offset."""
    if isinstance(value, Model):
        return (type(value), {key: state(item) for key, item in vars(value).items()})
    if isinstance(value, dict):
        return (type(value), {key: state(item) for key, item in value.items()})
    if isinstance(value, list):
        return (list, [state(item) for item in value])
    if isinstance(value, datetime):
        return (datetime, value.isoformat(), type(value.tzinfo), value.utcoffset())
    return (type(value), value)


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """A call's result, or the class and message of what it raised (objects' addresses aside:
    each call gets objects of its own)."""
    try:
        return ("result", call())
    except Exception as exc:
        return ("raised", (type(exc), re.sub(r" at 0x[0-9a-f]+", "", str(exc))))


@contextmanager
def msrest_calls() -> Iterator[list[Any]]:
    """Counts the activities `activity_from_json` hands to msrest (its fallback: msrest's own
    walk, with the module's shared Deserializer)."""
    calls: list[Any] = []
    original = activity_codec.msrest_activity_from_json

    def counting(data: Any) -> Any:
        calls.append(data)
        return original(data)

    with mock.patch.object(activity_codec, "msrest_activity_from_json", counting):
        yield calls


# -- incoming JSON ---------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """ISO 8601 as Teams and others send it: with Z, an offset or no zone, 0-9 fraction digits."""
    moment = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    digits = draw(st.integers(0, 9))
    if digits:
        text += "." + "".join(
            draw(st.lists(st.sampled_from("0123456789"), min_size=digits, max_size=digits))
        )
    zone = draw(
        st.sampled_from(["Z", "z", "", "+00:00", "+01:00", "-05:30", "+14:00", "+0100", "-08"])
    )
    return text + zone


odd_timestamps = st.sampled_from(
    ["", "yesterday", "2026-13-45T10:00:00Z", "2026-11-25", "2026-11-25T25:00:00", "10:00:00"]
) | st.text(max_size=30)


def good_or_odd(
    good: st.SearchStrategy[Any], odd: st.SearchStrategy[Any] | None
) -> st.SearchStrategy[Any]:
    """The declared type; or, with `odd`, sometimes anything else."""
    return good if odd is None else st.one_of(good, good, good, odd)


@functools.cache
def incoming_value(kind: str, odd: bool) -> st.SearchStrategy[Any]:
    """JSON for a field of this msrest type: of that type, or with `odd` sometimes not."""
    anything = json_values if odd else None
    if kind == "str":
        return good_or_odd(st.text(), anything)
    if kind == "bool":
        strange = st.sampled_from([0, 1, 2, "true", "False", "yes", 1.0]) | json_values
        return good_or_odd(st.booleans(), strange if odd else None)
    if kind == "int":
        strange = st.booleans() | st.sampled_from(["3", 2.5, 2.0]) | json_values
        return good_or_odd(st.integers(), strange if odd else None)
    if kind == "iso-8601":
        return good_or_odd(timestamps(), odd_timestamps | json_values if odd else None)
    if kind == "object":
        return json_values
    if kind == "[str]":
        return good_or_odd(st.lists(st.none() | st.text(), max_size=3), anything)
    if kind.startswith("["):
        element = st.none() | st.deferred(lambda: incoming_model(kind[1:-1], odd))
        return good_or_odd(st.lists(element, max_size=3), anything)
    if kind.startswith("{"):
        element = st.none() | st.deferred(lambda: incoming_model(kind[1:-1], odd))
        return good_or_odd(st.dictionaries(st.text(max_size=5), element, max_size=3), anything)
    return good_or_odd(st.deferred(lambda: incoming_model(kind, odd)), anything)


@functools.cache
def incoming_model(name: str, odd: bool) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object for the model: some of its fields (some null), unknown keys beside them,
    and keys that differ from the declared ones only by case (msrest reads keys exactly)."""
    fields = VERIFIED_FIELDS[name]
    known = st.fixed_dictionaries(
        {}, optional={key: st.none() | incoming_value(kind, odd) for _attr, key, kind in fields}
    )
    declared = {key for _attr, key, _kind in fields}
    unknown = st.dictionaries(
        (
            st.text(max_size=10) | st.sampled_from([key.upper() for key in declared] + ["tenantId"])
        ).filter(lambda key: key not in declared),
        json_values,
        max_size=3,
    )
    return st.builds(lambda extra, own: {**extra, **own}, unknown, known)


incoming_activities = incoming_model("Activity", False) | incoming_model("Activity", True)


def teams_like() -> st.SearchStrategy[dict[str, Any]]:
    """What Teams sends: a message or an Action.Execute invoke, with mentions and card data."""
    account = st.fixed_dictionaries(
        {"id": st.text(min_size=1)},
        optional={"name": st.text(), "aadObjectId": st.uuids().map(str)},
    )
    mention = st.fixed_dictionaries(
        {"type": st.just("mention"), "mentioned": account, "text": st.text()}
    )
    client_info = st.fixed_dictionaries(
        {
            "type": st.just("clientInfo"),
            "locale": st.text(),
            "country": st.text(),
            "timezone": st.text(),
        }
    )
    return st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["message", "invoke", "conversationUpdate", "installationUpdate"]
            ),
            "id": st.text(min_size=1),
            "channelId": st.just("msteams"),
            "serviceUrl": st.just("https://smba.trafficmanager.net/uk/"),
            "from": account,
            "recipient": account,
            "conversation": st.fixed_dictionaries(
                {
                    "id": st.text(min_size=1),
                    "conversationType": st.sampled_from(["personal", "channel"]),
                    "tenantId": st.text(),
                },
                optional={"isGroup": st.booleans(), "name": st.text()},
            ),
            "channelData": json_values,
        },
        optional={
            "timestamp": timestamps(),
            "localTimestamp": timestamps(),
            "localTimezone": st.just("Europe/London"),
            "locale": st.sampled_from(["en-GB", "cy-GB", "en-US"]),
            "text": st.text(),
            "textFormat": st.just("plain"),
            "name": st.just("adaptiveCard/action"),
            "replyToId": st.text(),
            "value": json_values,
            "entities": st.lists(mention | client_info, max_size=3),
            "attachments": st.lists(
                st.fixed_dictionaries({"contentType": st.text(), "content": json_values}),
                max_size=2,
            ),
            "membersAdded": st.lists(account, max_size=3),
            "rawTimestamp": st.text(),  # keys botbuilder has no field for
            "rawLocalTimestamp": st.text(),
        },
    )


@EXAMPLES
@given(incoming_activities)
def test_any_json_object_reads_as_msrest_reads_it(body: dict[str, Any]) -> None:
    expected = outcome(lambda: Activity().deserialize(copy.deepcopy(body)))
    with msrest_calls() as calls:
        got = outcome(lambda: activity_from_json(copy.deepcopy(body)))
    event("msrest" if calls else "fast path")
    assert got[0] == expected[0]
    if expected[0] == "raised":
        assert got == expected
        return
    assert state(got[1]) == state(expected[1])
    assert got[1].serialize() == expected[1].serialize()


@EXAMPLES
@given(incoming_model("Activity", False))
def test_json_of_the_declared_types_is_read_by_the_fast_path_as_msrest_reads_it(
    body: dict[str, Any],
) -> None:
    """Unknown keys, nulls, unicode and any timestamp msrest parses included."""
    expected = Activity().deserialize(copy.deepcopy(body))
    with msrest_calls() as calls:
        got = activity_from_json(copy.deepcopy(body))
    assert calls == []
    assert state(got) == state(expected)


@EXAMPLES
@given(teams_like())
def test_what_teams_sends_is_read_by_the_fast_path_as_msrest_reads_it(body: dict[str, Any]) -> None:
    expected = Activity().deserialize(copy.deepcopy(body))
    with msrest_calls() as calls:
        got = activity_from_json(body)
    assert calls == []  # well-formed input never needs msrest
    assert state(got) == state(expected)
    # the result shares no container with the body (msrest copies free-form JSON)
    if isinstance(body.get("value"), dict | list):
        assert got.value is not body["value"]


@given(st.one_of(json_values, st.text().map(lambda text: f'{{"type": "{text}"}}')))
def test_what_is_not_a_json_object_is_left_to_msrest(data: Any) -> None:
    expected = outcome(lambda: state(Activity().deserialize(copy.deepcopy(data))))
    assert outcome(lambda: state(activity_from_json(copy.deepcopy(data)))) == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("text", 5),  # msrest converts: "5"
        ("text", {"a": 1}),
        ("historyDisclosed", "true"),  # msrest converts: True
        ("historyDisclosed", 1),
        ("from", "someone"),  # msrest refuses
        ("from", ["x"]),
        ("membersAdded", {"id": "x"}),
        ("timestamp", "not a time"),  # msrest refuses
        ("timestamp", 1700000000),
        ("textHighlights", [{"occurrence": True}]),  # msrest converts: 1
        ("semanticAction", {"entities": [{"key": "k", "value": {"type": "t"}}]}),  # key/value form
    ],
)
def test_values_msrest_would_convert_or_refuse_go_to_msrest(field: str, value: Any) -> None:
    body = {"type": "message", field: value}
    expected = outcome(lambda: state(Activity().deserialize(copy.deepcopy(body))))
    with msrest_calls() as calls:
        assert outcome(lambda: state(activity_from_json(copy.deepcopy(body)))) == expected
    assert len(calls) == 1


def test_a_teams_timestamp_keeps_msrest_zone_and_fraction() -> None:
    body = {
        "type": "message",
        "timestamp": "2026-11-25T10:00:00.1234567Z",
        "localTimestamp": "2026-11-25T10:00:00.123+01:00",
    }
    got, expected = activity_from_json(body), Activity().deserialize(body)
    assert state(got) == state(expected)
    assert got.timestamp.microsecond == 123456


# -- outgoing activities ---------------------------------------------------------------------


class Odd:
    """An object msrest turns into its str (inside free-form JSON)."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __str__(self) -> str:
        return f"odd {self.label}"


class Number(Enum):
    ONE = 1


ENUMS = [
    ActivityTypes.message,
    ActivityTypes.invoke,
    schema.TextFormatTypes.markdown,
    schema.InputHints.accepting_input,
    schema.AttachmentLayoutTypes.list,
    schema.RoleTypes.bot,
    Number.ONE,
]
ZONES = [None, UTC, timezone(timedelta(hours=-5, minutes=-30)), ZoneInfo("Europe/London")]

# A spec is plain data; `build` makes a fresh object tree from it for each serialiser (msrest
# changes the activity it serialises: it turns dicts into models, lists into new lists).
Spec = tuple[str, Any]


def build(spec: Spec) -> Any:
    tag, data = spec
    if tag == "value":
        return data
    if tag == "json":
        return copy.deepcopy(data)
    if tag == "shared":
        return SharedCardContent(copy.deepcopy(data))
    if tag == "odd":
        return Odd(data)
    if tag == "list":
        return [build(item) for item in data]
    if tag == "tuple":
        return tuple(build(item) for item in data)
    if tag == "dict":
        return {key: build(item) for key, item in data.items()}
    if tag == "model":
        cls, fields = data
        return cls(**{attr: build(item) for attr, item in fields.items()})
    raise AssertionError(tag)


def value(item: Any) -> Spec:
    return ("value", item)


odd_values = st.one_of(
    st.integers().map(value),
    st.booleans().map(value),
    json_values.map(lambda item: ("json", item)),
    st.text().map(lambda label: ("odd", label)),
)
moments = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(9000, 1, 1)),
    st.sampled_from(ZONES),
)


@functools.cache
def outgoing_value(kind: str, odd: bool) -> st.SearchStrategy[Spec]:
    """A value for a field of this msrest type: of that type (a str or an enum member for
    "str", a datetime for "iso-8601", plain or shared JSON for "object"), or with `odd`
    sometimes something msrest converts or refuses."""
    anything = odd_values if odd else None
    if kind == "str":
        return good_or_odd(st.text().map(value) | st.sampled_from(ENUMS).map(value), anything)
    if kind == "bool":
        return good_or_odd(st.booleans().map(value), anything)
    if kind == "int":
        return good_or_odd(st.integers().map(value), anything)
    if kind == "iso-8601":
        return good_or_odd(
            moments.map(value), timestamps().map(value) | odd_values if odd else None
        )
    if kind == "object":
        plain = st.one_of(
            json_values.map(lambda item: ("json", item)),
            st.dictionaries(st.text(max_size=4), json_values).map(lambda item: ("shared", item)),
        )
        strange = st.one_of(
            st.dictionaries(
                st.text(max_size=4),
                st.text().map(lambda label: ("odd", label)) | st.datetimes().map(value),
                max_size=2,
            ).map(lambda d: ("dict", d)),
            st.deferred(lambda: outgoing_model("ChannelAccount", odd)),
            odd_values,
        )
        return good_or_odd(plain, strange if odd else None)
    if kind.startswith("["):
        element = st.none().map(value) | st.deferred(lambda: outgoing_value(kind[1:-1], odd))
        items = st.lists(element, max_size=3)
        as_list = items.map(lambda specs: ("list", specs))
        return good_or_odd(
            as_list, items.map(lambda specs: ("tuple", specs)) | odd_values if odd else None
        )
    if kind.startswith("{"):
        element = st.none().map(value) | st.deferred(lambda: outgoing_model(kind[1:-1], odd))
        as_dict = st.dictionaries(st.text(max_size=4), element, max_size=3)
        return good_or_odd(as_dict.map(lambda d: ("dict", d)), anything)
    return good_or_odd(st.deferred(lambda: outgoing_model(kind, odd)), anything)


SUBCLASSES: dict[str, list[type[Model]]] = {
    "ChannelAccount": [TeamsChannelAccount],
    "Entity": [Mention],
}


@functools.cache
def outgoing_model(name: str, odd: bool) -> st.SearchStrategy[Spec]:
    """A model of the declared class with some of its fields set; with `odd`, sometimes a
    subclass with fields of its own, or a dict (which msrest turns into the model first)."""
    fields = VERIFIED_FIELDS[name]
    cls = getattr(schema, name)
    classes = st.sampled_from([cls, cls, cls, *SUBCLASSES.get(name, [])]) if odd else st.just(cls)
    if name == "Activity":
        classes = st.sampled_from([Activity, ReplyActivity])
    chosen = st.fixed_dictionaries(
        {}, optional={attr: outgoing_value(kind, odd) for attr, _key, kind in fields}
    )

    def model(kind: type[Model], attrs: dict[str, Spec]) -> Spec:
        if kind is TeamsChannelAccount or kind is Mention:
            attrs = {attr: spec for attr, spec in attrs.items() if attr in kind._attribute_map}
        return ("model", (kind, attrs))

    as_model = st.builds(model, classes, chosen)
    if not odd or name == "Activity":
        return as_model
    as_dict = st.fixed_dictionaries(
        {}, optional={key: json_values.map(lambda item: ("json", item)) for _a, key, _k in fields}
    ).map(lambda d: ("dict", d))
    return st.one_of(as_model, as_model, as_model, as_dict)


outgoing_activities = outgoing_model("Activity", False) | outgoing_model("Activity", True)


def clients() -> tuple[ConnectorClient, ConnectorClient]:
    """msrest as our cached clients use it (card JSON fast, no validation: tests/bot/test_adapter.py
    compares that with the SDK's own client), and the same with the fast activity bodies."""
    msrest = ConnectorClient(MicrosoftAppCredentials("", ""), base_url="http://127.0.0.1:1/")
    fast = ConnectorClient(MicrosoftAppCredentials("", ""), base_url="http://127.0.0.1:1/")
    use_fast_json_objects(msrest)
    use_fast_json_objects(fast)
    use_fast_activity_bodies(fast)
    return msrest, fast


MSREST, FAST = clients()


@EXAMPLES
@given(outgoing_activities)
def test_any_activity_is_written_as_msrest_writes_it(spec: Spec) -> None:
    expected = outcome(lambda: MSREST._serialize.body(build(spec), "Activity"))
    got = outcome(lambda: FAST._serialize.body(build(spec), "Activity"))
    fast = outcome(lambda: fast_activity_json(build(spec), FAST._serialize))
    event("msrest" if fast == ("result", None) else "fast path")
    assert got == expected
    if fast[0] == "result" and fast[1] is not None:
        assert fast == expected


@EXAMPLES
@given(outgoing_model("Activity", False))
def test_an_activity_of_the_declared_types_is_written_by_the_fast_path(spec: Spec) -> None:
    expected = MSREST._serialize.body(build(spec), "Activity")
    assert fast_activity_json(build(spec), FAST._serialize) == expected


@EXAMPLES
@given(teams_like(), st.sampled_from(["help", "question", "long text"]))
def test_a_reply_to_what_teams_sends_is_written_by_the_fast_path(
    body: dict[str, Any], card: str
) -> None:
    """What a turn sends: our reply card, addressed by the SDK from the incoming activity."""
    from bot.cards.assessment import help_card
    from bot.replies import card_activity

    incoming = activity_from_json(body)
    content: dict[str, Any] = (
        help_card(22)
        if card == "help"
        else {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": card * 50}]}
    )
    reply = copy.deepcopy(card_activity(content))
    TurnContext.apply_conversation_reference(
        reply, TurnContext.get_conversation_reference(incoming)
    )
    reply.id = "updated-id" if card == "question" else None
    expected = MSREST._serialize.body(copy.deepcopy(reply), "Activity")
    assert fast_activity_json(reply, FAST._serialize) == expected
    assert FAST._serialize.body(reply, "Activity") == expected


def test_the_outbox_sender_writes_its_messages_through_the_fast_path() -> None:
    """The sender's clients get the fast bodies too (bot/sender/clients.py), and an outbox
    message, as `outgoing` rebuilds it from its stored JSON, takes the fast path."""
    from bot.cards.common import message_activity
    from bot.cards.rounds.invitation import invitation_card
    from bot.sender.conversations import outgoing
    from rounds.rules.views import InvitationView
    from store.outbox import Target

    view = InvitationView(
        round_id=1,
        round_name="Winter",
        team_names=("Ward 7",),
        closes_on="Friday 12 December",
        question_count=22,
        minutes=(10, 15),
    )
    stored = message_activity(invitation_card(view))
    target = Target.person(
        user_id="29:someone",
        tenant_id="tenant",
        service_url="https://smba.example/",
        bot_id="28:bot",
    )
    activity = outgoing(copy.deepcopy(stored), target, "a:chat", "https://smba.example/")
    with msrest_calls() as calls:
        assert state(
            outgoing(copy.deepcopy(stored), target, "a:chat", "https://smba.example/")
        ) == state(activity)
    assert calls == []
    expected = MSREST._serialize.body(copy.deepcopy(activity), "Activity")
    assert fast_activity_json(activity, FAST._serialize) == expected


def test_validation_or_serialiser_options_leave_the_body_to_msrest() -> None:
    activity = Activity(type="message", text="hi")
    vanilla = ConnectorClient(MicrosoftAppCredentials("", ""), base_url="http://127.0.0.1:1/")
    assert vanilla._serialize.client_side_validation
    assert fast_activity_json(activity, vanilla._serialize) is None
    assert fast_activity_json(activity, FAST._serialize) == {"type": "message", "text": "hi"}
    assert FAST._serialize.body(activity, "Activity", keep_readonly=True) == {
        "type": "message",
        "text": "hi",
    }


# -- a botbuilder upgrade --------------------------------------------------------------------


def test_the_installed_botbuilder_has_exactly_the_verified_models() -> None:
    """Fails if botbuilder adds, removes, renames or retypes a field of Activity or of any model
    inside it (or adds validation, subtypes or XML): review bot/activity_codec.py, extend its
    VERIFIED_FIELDS and these tests, so that the fast path never drops a field it does not know."""
    assert activity_codec.unverified_models() == []
    models = Activity._infer_class_models()
    for name, fields in VERIFIED_FIELDS.items():
        live = [
            (attr, desc["key"], desc["type"]) for attr, desc in models[name]._attribute_map.items()
        ]
        assert live == list(fields), name
    # the connector client resolves type names to the same classes as the deserialiser
    assert all(MSREST._serialize.dependencies[name] is models[name] for name in VERIFIED_FIELDS)


def test_a_field_it_does_not_know_is_reported() -> None:
    models = dict(Activity._infer_class_models())

    def with_field(cls: type[Model], attr: str, kind: str) -> type[Model]:
        fields = {**cls._attribute_map, attr: {"key": attr, "type": kind}}
        return type(f"New{cls.__name__}", (cls,), {"_attribute_map": fields})

    new_activity = with_field(Activity, "sentiment", "str")
    new_account = with_field(schema.ChannelAccount, "email", "str")
    newer_activity = with_field(Activity, "place", "Place")
    assert activity_codec.unverified_models({**models, "Activity": new_activity}) == [
        "Activity: fields differ from the verified ones (new: ['sentiment'])"
    ]
    assert activity_codec.unverified_models({**models, "ChannelAccount": new_account}) == [
        "ChannelAccount: fields differ from the verified ones (new: ['email'])"
    ]
    assert "Place: a model the fast path does not know" in activity_codec.unverified_models(
        {**models, "Activity": newer_activity}
    )


def test_with_a_field_it_does_not_know_everything_goes_through_msrest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As after an upgrade that adds a field: the module finds it at import, and from then on
    the new field is read and written (by msrest) instead of being dropped."""
    monkeypatch.setitem(Activity._attribute_map, "sentiment", {"key": "sentiment", "type": "str"})
    monkeypatch.setattr(Activity, "sentiment", None, raising=False)
    try:
        importlib.reload(activity_codec)
        with msrest_calls() as calls:
            got = activity_codec.activity_from_json({"type": "message", "sentiment": "glad"})
        assert len(calls) == 1
        assert state(got) == state(Activity().deserialize({"type": "message", "sentiment": "glad"}))
        assert got.sentiment == "glad"
        assert got.additional_properties == {}
        assert activity_codec.fast_activity_json(got, FAST._serialize) is None
        assert FAST._serialize.body(got, "Activity") == {"type": "message", "sentiment": "glad"}
    finally:
        monkeypatch.undo()
        importlib.reload(activity_codec)
    assert activity_codec.fast_activity_json(Activity(type="message"), FAST._serialize) == {
        "type": "message"
    }


async def test_the_sender_and_the_adapter_build_clients_with_the_fast_bodies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both places that build our connector clients install the fast bodies: a reply (the
    adapter's clients) and an outbox message (the sender's) go through `fast_activity_json`."""
    from bot import adapter
    from bot.adapter import ClientCache, _CachingConnectorFactory
    from bot.sender.clients import ConnectorClients

    class Factory:
        async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
            return ConnectorClient(MicrosoftAppCredentials("", ""), base_url=service_url)

    class Auth:
        def create_connector_factory(self, _claims: object) -> Factory:
            return Factory()

    calls: list[Any] = []

    def counting(activity: Any, serializer: Any) -> Any:
        calls.append(activity)
        return fast_activity_json(activity, serializer)

    monkeypatch.setattr(adapter, "fast_activity_json", counting)
    sender = ConnectorClients(
        Auth(),
        "28:bot",
        request_timeout=5.0,
        token_timeout=5.0,
        pool_size=2,
    )
    cached = _CachingConnectorFactory(
        Factory(),
        "28:bot",
        ClientCache(4),
        lambda: None,
        10.0,
    )
    activity = Activity(type=ActivityTypes.message, text="hi")
    for client in (await sender.get("http://127.0.0.1:1/"), await cached.create("http://x/")):
        assert client._serialize.body(activity, "Activity") == {"type": "message", "text": "hi"}
    assert calls == [activity, activity]


# -- msrest's own, with one shared Serializer and Deserializer ---------------------------------

INCOMING: dict[str, Any] = {
    "type": "invoke",
    "name": "adaptiveCard/action",
    "id": "f:1",
    "timestamp": "2026-11-30T00:00:00.123Z",
    "channelId": "msteams",
    "serviceUrl": "https://smba.example/uk/",
    "from": {"id": "29:a", "name": "A", "aadObjectId": "00000000-0000-0000-0000-000000000001"},
    "recipient": {"id": "28:bot", "name": "Bot"},
    "conversation": {"id": "a:1", "conversationType": "personal", "tenantId": "t"},
    "channelData": {"tenant": {"id": "t"}},
    "entities": [{"type": "clientInfo", "locale": "en-GB"}],
    "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                     "content": {"type": "AdaptiveCard", "body": [{"type": "TextBlock"}]}}],
    "value": {"action": {"type": "Action.Execute", "verb": "answer", "data": {"level": "3"}}},
}  # fmt: skip
CONVERTED = {**INCOMING, "text": 5}  # msrest converts it to "5": the fast path leaves it to msrest


def _reference() -> ConversationReference:
    return ConversationReference(
        bot=ChannelAccount(id="28:bot"),
        user=ChannelAccount(id="29:a"),
        conversation=ConversationAccount(id="a:1", conversation_type="personal", tenant_id="t"),
        channel_id="msteams",
        service_url="https://smba.example/uk/",
    )


def test_what_the_fast_path_leaves_to_msrest_reads_as_msrest_reads_it() -> None:
    with msrest_calls() as calls:
        got = activity_from_json(copy.deepcopy(CONVERTED))
    assert len(calls) == 1
    assert state(got) == state(Activity().deserialize(copy.deepcopy(CONVERTED)))
    assert got.text == "5"


def test_a_model_writes_as_msrest_writes_it() -> None:
    assert model_json(_reference()) == _reference().serialize()
    activity = Activity().deserialize(INCOMING)
    assert model_json(activity) == activity.serialize()


@pytest.fixture
def no_automatic_collections() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _cyclic_garbage(call: Callable[[], object]) -> int:
    gc.collect()
    for _ in range(20):
        call()
    return gc.collect()  # what only the cyclic collector could free


@pytest.mark.usefixtures("no_automatic_collections")
def test_reading_and_writing_leave_nothing_for_the_cyclic_collector() -> None:
    assert _cyclic_garbage(lambda: Activity().deserialize(INCOMING)) > 0  # msrest's own: cycles
    assert _cyclic_garbage(lambda: _reference().serialize()) > 0
    assert _cyclic_garbage(lambda: activity_from_json(INCOMING)) == 0  # the fast path
    assert _cyclic_garbage(lambda: activity_from_json(CONVERTED)) == 0  # msrest's, shared
    assert _cyclic_garbage(lambda: model_json(_reference())) == 0


def _clients_serializer() -> Any:
    client = ConnectorClient(MicrosoftAppCredentials("", ""), base_url="https://smba.example/")
    plain = client._serialize.body
    use_fast_json_objects(client)
    return client._serialize, plain


def _conversation_parameters() -> ConversationParameters:
    return ConversationParameters(
        is_group=False,
        bot=ChannelAccount(id="28:bot"),
        members=[ChannelAccount(id="29:a")],
        tenant_id="t",
        channel_data={"tenant": {"id": "t"}},
    )


def test_a_request_body_is_what_msrest_would_send() -> None:
    serializer, plain = _clients_serializer()
    assert serializer.body is not plain
    for data, data_type in (
        (activity_from_json(INCOMING), "Activity"),
        (_conversation_parameters(), "ConversationParameters"),
        (INCOMING, "Activity"),  # a plain dict is built into the model first, as msrest does
    ):
        assert serializer.body(data, data_type) == plain(data, data_type)


@pytest.mark.usefixtures("no_automatic_collections")
def test_a_request_body_leaves_nothing_for_the_cyclic_collector() -> None:
    serializer, plain = _clients_serializer()
    activity = activity_from_json(INCOMING)
    assert _cyclic_garbage(lambda: plain(activity, "Activity")) > 0  # msrest's own
    assert _cyclic_garbage(lambda: serializer.body(activity, "Activity")) == 0
