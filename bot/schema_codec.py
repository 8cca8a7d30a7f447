"""One msrest Serializer and one Deserializer for botbuilder.schema's models, shared.

msrest's `Model.serialize()` and `Model.deserialize()` build a new Serializer or Deserializer on
every call. Each holds a copy of the schema's ~160 model classes and a dict of bound methods of
itself: a reference cycle, so it is freed only by the cyclic garbage collector, not when the
call returns. The outbox sender made two of them per message (the outgoing activity, the new
chat's reference) and every turn one (the incoming activity). At the opening's pace (250
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
from msrest.serialization import Deserializer, Model, Serializer

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
