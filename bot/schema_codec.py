"""One msrest Serializer and one Deserializer for botbuilder.schema's models, shared.

msrest's `Model.serialize()` and `Model.deserialize()` build a new Serializer or Deserializer on
every call. Each holds a copy of the schema's ~160 model classes and a dict of bound methods of
itself: a reference cycle, so it is freed only by the cyclic garbage collector, not when the
call returns; so does `Serializer.body` for every request's body. The outbox sender made four
of them per message (the outgoing activity, the new chat's reference, the two requests' bodies)
and every turn two (the incoming activity, the reply's body). At the opening's pace (250
requests a second at Teams' limits x5) they were most of what each young collection walked and
freed: benchmarks/pauses.py saw young collections of 6-24 ms while the invitations were sent,
against 2-4 ms before (issue 13: every thread of the service waits during a collection).

Both are stateless between calls (what they read is set here, once), and everything that uses
them runs on the event loop. tests/bot/test_schema_codec.py checks they give what msrest's own
calls give.
"""

from __future__ import annotations

from typing import Any

import botbuilder.schema
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

# What msrest's Model._infer_class_models finds for a botbuilder.schema model.
_MODELS = {k: v for k, v in vars(botbuilder.schema).items() if isinstance(v, type)}
_SERIALIZER = Serializer(_MODELS)
_DESERIALIZER = Deserializer(_MODELS)


def activity_from_json(data: dict[str, Any]) -> Activity:
    """`Activity().deserialize(data)`, without a new Deserializer."""
    activity: Activity = _DESERIALIZER("Activity", data)
    return activity


def model_json(model: Model) -> dict[str, Any]:
    """`model.serialize()`, without a new Serializer."""
    found: dict[str, Any] = _SERIALIZER._serialize(model)
    return found


def reuse_body_deserializer(serializer: Serializer) -> None:
    """Make `serializer.body` (each request's body on a ConnectorClient) use one Deserializer.

    msrest's `Serializer.body` first "builds a model" from the data with a new Deserializer,
    configured for request bodies (no additional-properties detection, case-insensitive keys),
    then serialises it: two new reference cycles a message for the sender (the chat's creation
    and the send). This does the same with one such Deserializer made here, for JSON bodies of
    the client's own models; anything else (XML, validation on, another type) goes through
    msrest's `body` unchanged. tests/bot/test_schema_codec.py compares the two.
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
