"""The shared msrest codec gives what msrest's own calls give, and leaves no cyclic garbage
(bot/schema_codec.py says why that matters)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount, ConversationReference

from bot.schema_codec import activity_from_json, model_json

pytestmark = pytest.mark.unit

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


def _reference() -> ConversationReference:
    return ConversationReference(
        bot=ChannelAccount(id="28:bot"),
        user=ChannelAccount(id="29:a"),
        conversation=ConversationAccount(id="a:1", conversation_type="personal", tenant_id="t"),
        channel_id="msteams",
        service_url="https://smba.example/uk/",
    )


def test_an_activity_reads_as_msrest_reads_it() -> None:
    ours = activity_from_json(INCOMING)
    theirs = Activity().deserialize(INCOMING)
    assert isinstance(ours, Activity)
    assert ours.as_dict() == theirs.as_dict()
    assert ours.serialize() == theirs.serialize()


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
    assert _cyclic_garbage(lambda: activity_from_json(INCOMING)) == 0
    assert _cyclic_garbage(lambda: model_json(_reference())) == 0


def _clients_serializer() -> Any:
    from botframework.connector.aio import ConnectorClient
    from botframework.connector.auth import MicrosoftAppCredentials

    from bot.adapter import use_fast_json_objects

    client = ConnectorClient(MicrosoftAppCredentials("", ""), base_url="https://smba.example/")
    plain = client._serialize.body
    use_fast_json_objects(client)
    return client._serialize, plain


def _conversation_parameters() -> Any:
    from botbuilder.schema import ConversationParameters

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
