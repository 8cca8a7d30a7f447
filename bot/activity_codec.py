"""Botbuilder's models to and from JSON with exactly msrest's results, without msrest's costs.

msrest costs the service in two ways, and this module avoids both.

1. Its generic walk. Every turn msrest turns the request body into an `Activity`
(`Activity().deserialize(body)`), and every reply or card update goes back to JSON through the
connector client's `Serializer.body(activity, "Activity")`. msrest does both generically: it
looks up each of the forty-odd fields' types by name, tries key extractors in turn, and, before
serialising, rebuilds the activity's models once more "just in case" (about 160 us and 210 us of
the event loop's CPU for an answer turn's activity and its question card, together about a
quarter of the loop's time in `benchmarks/answer_roundtrip.py --profile`). Here each model's
fields are compiled once into a plan, and a plain activity takes one pass over its fields
(`activity_from_json`, `fast_activity_json`).

2. A new Serializer or Deserializer per call. msrest's `Model.serialize()` and
`Model.deserialize()` build one on every call. Each holds a copy of the schema's ~160 model
classes and a dict of bound methods of itself: a reference cycle, so it is freed only by the
cyclic garbage collector, not when the call returns; so does `Serializer.body` for every
request's body. The outbox sender made four of them per message (the outgoing activity, the new
chat's reference, the two requests' bodies) and every turn two (the incoming activity, the
reply's body). At the opening's pace (250 requests a second at Teams' limits x5) they were most
of what each young collection walked and freed: benchmarks/pauses.py saw young collections of
6-24 ms while the invitations were sent, against 2-4 ms before (issue 13: every thread of the
service waits during a collection). Here one Serializer and one Deserializer, made once, do
msrest's work wherever msrest still does it: what the fast path leaves to msrest
(`msrest_activity_from_json`), other models (`model_json`), and request bodies
(`reuse_body_deserializer`). Both are stateless between calls (what they read is set here,
once), and everything that uses them runs on the event loop.

How the fast path is kept exact:

- It handles only inputs it reproduces exactly: each field holding JSON of the type
  its field declares (a str for "str", a dict for a model, a list for a list, plain JSON for
  "object"), models of exactly the declared class. Anything else (a number where a string is
  declared, which msrest would convert; a model subclass such as `Mention`; a dict where a model
  is expected, a non-dict where msrest would refuse; a timestamp msrest cannot parse; kwargs,
  validation on) is not guessed at: the whole activity goes to msrest, which gives its own
  result or raises its own error.
- What msrest computes through a function of its own is computed by that function: timestamps
  with `Deserializer.deserialize_iso` and the client's `serialize_type["iso-8601"]`, free-form
  JSON ("object": card content, channel data) with the client's `serialize_type["object"]` (our
  cached clients' `use_fast_json_objects`).
- The plans are compiled from the models' live `_attribute_map`s, but used only while those
  equal `VERIFIED_FIELDS`, the maps of botbuilder-schema 4.17.1 this was written and tested
  against (and only while no model declares validation rules, subtypes or XML). If a botbuilder
  upgrade changes any of them, the fast path turns itself off (msrest for everything, a warning
  at start-up) rather than drop a field it does not know, and tests/bot/test_activity_codec.py
  fails until the table and this code are reviewed.
- tests/bot/test_activity_codec.py generates activities with Hypothesis (missing fields, unknown
  keys, nulls, wrong types, nested entities, unicode, timestamps with and without a zone) and
  compares every result with msrest's: the deserialised models attribute by attribute, the
  serialised JSON key by key. The same file checks that the shared Serializer and Deserializer
  give what msrest's own calls give, and leave nothing for the cyclic collector.

What msrest does and this does not: before serialising, msrest's `body` reassigns the
activity's list fields to new lists holding the same models. Nothing reads those lists' identity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from botbuilder.schema import Activity
from msrest.exceptions import DeserializationError, SerializationError
from msrest.serialization import (
    Deserializer,
    Model,
    Serializer,
    attribute_key_case_insensitive_extractor,
    last_rest_key_case_insensitive_extractor,
    rest_key_case_insensitive_extractor,
)

log = logging.getLogger(__name__)

# model name -> (Python attribute, JSON key, msrest type) for every field, in _attribute_map order
VERIFIED_FIELDS: Final[dict[str, tuple[tuple[str, str, str], ...]]] = {
    "Activity": (
        ("type", "type", "str"),
        ("id", "id", "str"),
        ("timestamp", "timestamp", "iso-8601"),
        ("local_timestamp", "localTimestamp", "iso-8601"),
        ("local_timezone", "localTimezone", "str"),
        ("service_url", "serviceUrl", "str"),
        ("channel_id", "channelId", "str"),
        ("from_property", "from", "ChannelAccount"),
        ("conversation", "conversation", "ConversationAccount"),
        ("recipient", "recipient", "ChannelAccount"),
        ("text_format", "textFormat", "str"),
        ("attachment_layout", "attachmentLayout", "str"),
        ("members_added", "membersAdded", "[ChannelAccount]"),
        ("members_removed", "membersRemoved", "[ChannelAccount]"),
        ("reactions_added", "reactionsAdded", "[MessageReaction]"),
        ("reactions_removed", "reactionsRemoved", "[MessageReaction]"),
        ("topic_name", "topicName", "str"),
        ("history_disclosed", "historyDisclosed", "bool"),
        ("locale", "locale", "str"),
        ("text", "text", "str"),
        ("speak", "speak", "str"),
        ("input_hint", "inputHint", "str"),
        ("summary", "summary", "str"),
        ("suggested_actions", "suggestedActions", "SuggestedActions"),
        ("attachments", "attachments", "[Attachment]"),
        ("entities", "entities", "[Entity]"),
        ("channel_data", "channelData", "object"),
        ("action", "action", "str"),
        ("reply_to_id", "replyToId", "str"),
        ("label", "label", "str"),
        ("value_type", "valueType", "str"),
        ("value", "value", "object"),
        ("name", "name", "str"),
        ("relates_to", "relatesTo", "ConversationReference"),
        ("code", "code", "str"),
        ("expiration", "expiration", "iso-8601"),
        ("importance", "importance", "str"),
        ("delivery_mode", "deliveryMode", "str"),
        ("listen_for", "listenFor", "[str]"),
        ("text_highlights", "textHighlights", "[TextHighlight]"),
        ("semantic_action", "semanticAction", "SemanticAction"),
        ("caller_id", "callerId", "str"),
    ),
    "ChannelAccount": (
        ("id", "id", "str"),
        ("name", "name", "str"),
        ("aad_object_id", "aadObjectId", "str"),
        ("role", "role", "str"),
        ("properties", "properties", "object"),
    ),
    "ConversationAccount": (
        ("is_group", "isGroup", "bool"),
        ("conversation_type", "conversationType", "str"),
        ("id", "id", "str"),
        ("name", "name", "str"),
        ("aad_object_id", "aadObjectId", "str"),
        ("role", "role", "str"),
        ("tenant_id", "tenantID", "str"),  # sic: Teams sends "tenantId", which msrest keeps aside
        ("properties", "properties", "object"),
    ),
    "MessageReaction": (("type", "type", "str"),),
    "SuggestedActions": (
        ("to", "to", "[str]"),
        ("actions", "actions", "[CardAction]"),
    ),
    "CardAction": (
        ("type", "type", "str"),
        ("title", "title", "str"),
        ("image", "image", "str"),
        ("text", "text", "str"),
        ("display_text", "displayText", "str"),
        ("value", "value", "object"),
        ("channel_data", "channelData", "object"),
        ("image_alt_text", "imageAltText", "str"),
    ),
    "Attachment": (
        ("content_type", "contentType", "str"),
        ("content_url", "contentUrl", "str"),
        ("content", "content", "object"),
        ("name", "name", "str"),
        ("thumbnail_url", "thumbnailUrl", "str"),
    ),
    "Entity": (("type", "type", "str"),),
    "ConversationReference": (
        ("activity_id", "activityId", "str"),
        ("user", "user", "ChannelAccount"),
        ("bot", "bot", "ChannelAccount"),
        ("conversation", "conversation", "ConversationAccount"),
        ("channel_id", "channelId", "str"),
        ("locale", "locale", "str"),
        ("service_url", "serviceUrl", "str"),
    ),
    "TextHighlight": (
        ("text", "text", "str"),
        ("occurrence", "occurrence", "int"),
    ),
    "SemanticAction": (
        ("id", "id", "str"),
        ("entities", "entities", "{Entity}"),
        ("state", "state", "str"),
    ),
}

_SCALARS: Final = frozenset({"str", "bool", "int", "iso-8601", "object"})


class _NotPlain(Exception):
    """The input is not one the fast path reproduces exactly: msrest decides."""


def _model_classes() -> dict[str, type[Model]]:
    """The classes msrest resolves type names to when it deserialises an Activity."""
    return dict(Activity._infer_class_models())


def unverified_models(models: dict[str, type[Model]] | None = None) -> list[str]:
    """Why the fast path cannot be used with these model classes (empty: it can).

    Each model the Activity reaches must have exactly the fields of `VERIFIED_FIELDS`, each
    described by a key and a type alone, no validation rules, no subtypes and no XML map."""
    models = _model_classes() if models is None else models
    problems: list[str] = []
    pending, seen = ["Activity"], set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        cls = models.get(name)
        if cls is None:
            problems.append(f"{name}: no such model")
            continue
        verified = VERIFIED_FIELDS.get(name)
        live = tuple(
            (attr, desc.get("key"), desc.get("type")) for attr, desc in cls._attribute_map.items()
        )
        if verified is None:
            problems.append(f"{name}: a model the fast path does not know")
        elif live != verified:
            added = sorted({field[0] for field in live} - {field[0] for field in verified})
            problems.append(f"{name}: fields differ from the verified ones (new: {added})")
        if any(set(desc) != {"key", "type"} for desc in cls._attribute_map.values()):
            problems.append(f"{name}: a field described by more than a key and a type")
        if cls._validation or cls.__dict__.get("_subtype_map") or hasattr(cls, "_xml_map"):
            problems.append(f"{name}: validation rules, subtypes or an XML map")
        for _attr, _key, kind in live:
            inner = str(kind).strip("[]{}")
            if inner not in _SCALARS:
                pending.append(inner)
            elif kind not in _SCALARS and kind != "[str]":
                problems.append(f"{name}: a field of type {kind}")
    return problems


# -- reading: JSON -> models ----------------------------------------------------------------

Reader = Callable[[Any], Any]


@dataclass(frozen=True)
class _ReadPlan:
    cls: type[Model]
    fields: tuple[tuple[str, str, Reader | None], ...]  # None: a str field, read inline
    keys: frozenset[str]


def _copy_json(value: Any) -> Any:
    """msrest's `deserialize_object` on plain JSON: a copy, new dicts and lists, same scalars."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is dict:
        return {key: _copy_json(item) for key, item in value.items()}
    if kind is list:
        return [_copy_json(item) for item in value]
    raise _NotPlain


def _read_bool(value: Any) -> Any:
    if type(value) is not bool:
        raise _NotPlain
    return value


def _read_int(value: Any) -> Any:
    if type(value) is not int:
        raise _NotPlain
    return value


def _read_iso(value: Any) -> Any:
    if type(value) is not str:
        raise _NotPlain
    try:
        return Deserializer.deserialize_iso(value)
    except Exception as exc:  # msrest's DeserializationError: let msrest raise it
        raise _NotPlain from exc


def _read_str_list(value: Any) -> Any:
    if type(value) is not list or any(not (item is None or type(item) is str) for item in value):
        raise _NotPlain
    return list(value)


class _Reading:
    """Read plans for every verified model, by name."""

    def __init__(self, models: dict[str, type[Model]]) -> None:
        self.plans: dict[str, _ReadPlan] = {}
        for name in VERIFIED_FIELDS:
            fields = tuple(
                (attr, desc["key"], self._reader(desc["type"]))
                for attr, desc in models[name]._attribute_map.items()
            )
            keys = frozenset(desc["key"] for desc in models[name]._attribute_map.values())
            self.plans[name] = _ReadPlan(models[name], fields, keys)

    def _reader(self, kind: str) -> Reader | None:
        if kind == "str":
            return None
        if kind == "bool":
            return _read_bool
        if kind == "int":
            return _read_int
        if kind == "iso-8601":
            return _read_iso
        if kind == "object":
            return _copy_json
        if kind == "[str]":
            return _read_str_list
        if kind.startswith("["):
            return self._list_reader(kind[1:-1])
        if kind.startswith("{"):
            return self._dict_reader(kind[1:-1])
        return lambda value: self.model(kind, value)

    def _list_reader(self, name: str) -> Reader:
        def read(value: Any) -> Any:
            if type(value) is not list:
                raise _NotPlain
            return [None if item is None else self.model(name, item) for item in value]

        return read

    def _dict_reader(self, name: str) -> Reader:
        def read(value: Any) -> Any:
            if type(value) is not dict:
                raise _NotPlain
            return {
                key: None if item is None else self.model(name, item) for key, item in value.items()
            }

        return read

    def model(self, name: str, data: Any) -> Any:
        """msrest's `_deserialize` of a JSON object into the model `name`."""
        if type(data) is not dict:
            raise _NotPlain
        plan = self.plans[name]
        kwargs: dict[str, Any] = {}
        for attr, key, read in plan.fields:
            value = data.get(key)
            if value is None:
                kwargs[attr] = None
            elif read is None:
                if type(value) is not str:
                    raise _NotPlain
                kwargs[attr] = value
            else:
                kwargs[attr] = read(value)
        model = plan.cls(**kwargs)
        keys = plan.keys
        extra = {key: value for key, value in data.items() if key not in keys}
        if extra:  # msrest keeps unknown keys aside, their values as they came
            model.additional_properties = extra
        return model


# -- writing: models -> JSON ----------------------------------------------------------------

Serialise = Callable[..., Any]
WritePlan = tuple[tuple[str, str, str, dict[str, Any]], ...]  # attribute, key, type, its map entry


@dataclass(frozen=True)
class _Writing:
    """One serialisation: the write plans by model class, the classes by type name, and the
    client's own serialisers for timestamps and free-form JSON."""

    plans: dict[type[Model], WritePlan]
    classes: dict[str, type[Any]]
    iso: Serialise
    obj: Serialise

    def model(self, value: Any, declared: str) -> dict[str, Any]:
        """msrest's `_serialize` of a model of exactly the declared class, None fields left out."""
        if type(value) is not self.classes[declared]:
            raise _NotPlain
        out: dict[str, Any] = {}
        for attr, key, kind, desc in self.plans[type(value)]:
            item = getattr(value, attr)
            if item is not None:
                out[key] = self.value(item, kind, desc)
        return out

    def value(self, item: Any, kind: str, desc: dict[str, Any]) -> Any:
        if kind == "str":
            return _write_str(item)
        if kind == "object":
            return self._through(self.obj, item, desc)
        if kind == "bool" or kind == "int":
            if type(item) is not (bool if kind == "bool" else int):
                raise _NotPlain
            return item
        if kind == "iso-8601":
            return self._through(self.iso, item, desc)
        if kind.startswith("["):
            if type(item) is not list:
                raise _NotPlain
            inner = kind[1:-1]
            return [None if x is None else self.value(x, inner, desc) for x in item]
        if kind.startswith("{"):
            if type(item) is not dict:
                raise _NotPlain
            inner = kind[1:-1]
            return {
                _write_str(k): None if x is None else self.value(x, inner, desc)
                for k, x in item.items()
            }
        return self.model(item, kind)

    @staticmethod
    def _through(serialise: Serialise, item: Any, desc: dict[str, Any]) -> Any:
        """The client's serialiser for this type, called as msrest calls it."""
        try:
            return serialise(item, is_xml=False, serialization_ctxt=desc)
        except Exception as exc:  # msrest would raise its SerializationError: let it
            raise _NotPlain from exc


def _write_str(item: Any) -> Any:
    """msrest's `serialize_unicode`: a str as it is, an enum member as its value."""
    if type(item) is str:
        return item
    if isinstance(item, Enum):
        return item.value
    raise _NotPlain


def _serialises_as_activity(cls: type[Any]) -> bool:
    """Activity, or a subclass with its very maps (bot.adapter.ReplyActivity, say)."""
    return issubclass(cls, Activity) and (
        cls._attribute_map is Activity._attribute_map
        and cls._validation is Activity._validation
        and cls._subtype_map is Activity._subtype_map
        and not hasattr(cls, "_xml_map")
    )


# -- msrest's own, with one shared Serializer and Deserializer -------------------------------

_MODELS: Final = _model_classes()
_MSREST_SERIALIZER: Final = Serializer(_MODELS)
_MSREST_DESERIALIZER: Final = Deserializer(_MODELS)


def msrest_activity_from_json(data: Any) -> Any:
    """`Activity().deserialize(data)`, msrest's own walk, without a new Deserializer."""
    return _MSREST_DESERIALIZER("Activity", data)


def model_json(model: Model) -> dict[str, Any]:
    """`model.serialize()`, without a new Serializer."""
    found: dict[str, Any] = _MSREST_SERIALIZER._serialize(model)
    return found


def reuse_body_deserializer(serializer: Serializer) -> None:
    """Make `serializer.body` (each request's body on a ConnectorClient) use one Deserializer.

    msrest's `Serializer.body` first "builds a model" from the data with a new Deserializer,
    configured for request bodies (no additional-properties detection, case-insensitive keys),
    then serialises it: two new reference cycles a message for the sender (the chat's creation
    and the send). This does the same with one such Deserializer made here, for JSON bodies of
    the client's own models; anything else (XML, validation on, another type) goes through
    msrest's `body` unchanged. tests/bot/test_activity_codec.py compares the two.
    """
    original = serializer.body
    building = Deserializer(serializer.dependencies)
    building.additional_properties_detection = False
    building.key_extractors = [
        rest_key_case_insensitive_extractor,
        attribute_key_case_insensitive_extractor,
        last_rest_key_case_insensitive_extractor,
    ]

    def body(data: Any, data_type: str, **kwargs: Any) -> Any:
        model: Any = serializer.dependencies.get(data_type.strip("[]{}"))
        if (
            data is None
            or "is_xml" in kwargs
            or serializer.client_side_validation
            or not (isinstance(model, type) and issubclass(model, Model))
            or hasattr(model, "_xml_map")  # msrest's Model.is_xml_model
        ):
            return original(data, data_type, **kwargs)
        try:
            built = building._deserialize(data_type, data)
        except DeserializationError as err:
            raise SerializationError(f"Unable to build a model: {err}") from err
        return serializer._serialize(built, data_type, is_xml=False, **kwargs)

    serializer.body = body


# -- the two entry points -------------------------------------------------------------------

_PROBLEMS: Final = unverified_models(_MODELS)
if _PROBLEMS:
    log.warning(
        "activities are (de)serialised by msrest alone: botbuilder's models are not the ones "
        "bot/activity_codec.py was verified against (%s)",
        "; ".join(_PROBLEMS),
    )
_READING: Final = None if _PROBLEMS else _Reading(_MODELS)
_WRITE_PLANS: Final[dict[type[Model], WritePlan]] = {
    _MODELS[name]: tuple(
        (attr, desc["key"], desc["type"], desc)
        for attr, desc in _MODELS[name]._attribute_map.items()
    )
    for name in ([] if _PROBLEMS else VERIFIED_FIELDS)
}
_Known = tuple[dict[type[Model], WritePlan], dict[str, type[Any]]]
# per class of activity sent: its write plans and type names, or None (msrest only)
_ACTIVITY_CLASSES: dict[type[Any], _Known | None] = {}


def activity_from_json(data: Any) -> Any:
    """`Activity().deserialize(data)`, exactly: an Activity, or msrest's own error (the fast
    path where it reproduces msrest, msrest's walk with the shared Deserializer elsewhere)."""
    if _READING is not None:
        try:
            return _READING.model("Activity", data)
        except (_NotPlain, RecursionError):
            pass
    return msrest_activity_from_json(data)


def fast_activity_json(activity: Any, serializer: Any) -> dict[str, Any] | None:
    """What `serializer.body(activity, "Activity")` returns, or None where only msrest can say
    (then call it). `serializer` is a connector client's, with validation off."""
    if _PROBLEMS or serializer.client_side_validation:
        return None
    cls = type(activity)
    if cls not in _ACTIVITY_CLASSES:
        _ACTIVITY_CLASSES[cls] = (
            ({**_WRITE_PLANS, cls: _WRITE_PLANS[Activity]}, {**_MODELS, "Activity": cls})
            if _serialises_as_activity(cls)
            else None
        )
    known = _ACTIVITY_CLASSES[cls]
    if known is None:
        return None
    plans, classes = known
    types = serializer.serialize_type
    writing = _Writing(plans, classes, types["iso-8601"], types["object"])
    try:
        return writing.model(activity, "Activity")
    except (_NotPlain, RecursionError):
        return None
