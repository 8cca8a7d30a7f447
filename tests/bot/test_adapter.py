"""Connector clients are reused across turns instead of being rebuilt for each one.

This test fails if a botbuilder upgrade changes how CloudAdapter obtains its clients (then our
wrapper would no longer be used and each turn would pay msrest's ClientRetryPolicy cost again)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from msrest.universal_http import requests as msrest_requests

from bot.adapter import CachingBotFrameworkAuthentication
from bot.config import Settings
from bot.web import ADAPTER_KEY
from impact.service import create_app
from store.db import Database
from tests.conftest import Clock, serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser

pytestmark = pytest.mark.service


async def test_connector_clients_are_built_once_not_per_turn(
    monkeypatch: pytest.MonkeyPatch,
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: Any,
) -> None:
    built = []
    original_init = msrest_requests.ClientRetryPolicy.__init__

    def counting_init(self: Any) -> None:
        built.append(self)
        original_init(self)

    monkeypatch.setattr(msrest_requests.ClientRetryPolicy, "__init__", counting_init)
    app = create_app(settings_factory(), db=db, clock=clock)
    runner, url = await serve(app)
    try:
        user = TeamsUser(bot_url=url, connector=connector, session=http)
        for _ in range(5):
            await user.say("help")
        assert len(user.cards()) == 5
    finally:
        await runner.cleanup()
    auth = app[ADAPTER_KEY].bot_framework_authentication
    assert isinstance(auth, CachingBotFrameworkAuthentication)
    assert len(auth.connector_clients) == 1
    assert len(auth.user_token_clients) == 1
    # one connector client + one user token client, each with one retry policy: not 2 per turn
    assert len(built) <= 2


def test_fast_json_objects_matches_msrest_and_falls_back() -> None:
    """Our fast path returns exactly what msrest's own serializer returns for plain JSON, and
    leaves anything else to msrest. Fails if msrest stops dispatching "object" this way."""
    from botbuilder.core import CardFactory, MessageFactory
    from botframework.connector.aio import ConnectorClient
    from botframework.connector.auth import MicrosoftAppCredentials

    from bot.adapter import use_fast_json_objects
    from bot.cards.assessment import help_card

    plain = ConnectorClient(MicrosoftAppCredentials("", ""), base_url="http://127.0.0.1:1/")
    fast = ConnectorClient(MicrosoftAppCredentials("", ""), base_url="http://127.0.0.1:1/")
    assert "object" in fast._serialize.serialize_type
    use_fast_json_objects(fast)
    activity = MessageFactory.attachment(CardFactory.adaptive_card(help_card(22)))
    activity.attachments[0].content["nested"] = [1, 2.5, True, None, {"x": "ü"}]
    assert fast._serialize.body(activity, "Activity") == plain._serialize.body(activity, "Activity")

    class Odd:
        def __str__(self) -> str:
            return "odd"

    activity.attachments[0].content["odd"] = Odd()
    assert fast._serialize.body(activity, "Activity") == plain._serialize.body(activity, "Activity")


def test_shared_card_content_is_shared_by_copies_and_sent_as_msrest_would() -> None:
    """A card wrapped in SharedCardContent (every card a reply sends) is not copied when the
    SDK deep-copies its activity, and our cached client serialises the activity exactly as
    msrest serialises the same card as a plain dict."""
    import copy

    from botbuilder.core import CardFactory, MessageFactory
    from botbuilder.schema import ChannelAccount
    from botframework.connector.aio import ConnectorClient
    from botframework.connector.auth import MicrosoftAppCredentials

    from bot.adapter import SharedCardContent, use_fast_json_objects
    from bot.cards.assessment import help_card
    from bot.replies import card_activity

    card = help_card(22)
    shared = MessageFactory.attachment(CardFactory.adaptive_card(SharedCardContent(card)))
    copied = copy.deepcopy(shared)
    assert copied is not shared
    assert copied.attachments[0] is not shared.attachments[0]
    assert copied.attachments[0].content is shared.attachments[0].content
    reply = card_activity(card)  # what a turn sends: the copy shares its parts as well
    reply_copy = copy.deepcopy(reply)
    assert reply_copy is not reply
    assert reply_copy.attachments is reply.attachments
    reply_copy.recipient = ChannelAccount(id="someone")  # as the SDK fills in its copy
    assert reply.recipient is None

    plain = ConnectorClient(MicrosoftAppCredentials("", ""), base_url="http://127.0.0.1:1/")
    fast = ConnectorClient(MicrosoftAppCredentials("", ""), base_url="http://127.0.0.1:1/")
    use_fast_json_objects(fast)
    as_dict = MessageFactory.attachment(CardFactory.adaptive_card(copy.deepcopy(card)))
    assert fast._serialize.body(copied, "Activity") == plain._serialize.body(as_dict, "Activity")
    as_dict.recipient = ChannelAccount(id="someone")
    assert fast._serialize.body(reply_copy, "Activity") == plain._serialize.body(
        as_dict, "Activity"
    )


def test_botbuilder_models_declare_no_validation_rules() -> None:
    """Our cached clients skip msrest's client-side validation walk: that is only safe while
    no botbuilder model declares a rule for it to check. Fails if an SDK upgrade adds one."""
    import inspect

    from botbuilder import schema
    from botbuilder.schema import teams
    from msrest.serialization import Model

    models = [
        member
        for module in (schema, teams)
        for _, member in inspect.getmembers(module, inspect.isclass)
        if issubclass(member, Model)
    ]
    assert len(models) > 50
    assert [m.__name__ for m in models if getattr(m, "_validation", {})] == []


async def test_cached_clients_send_over_aiohttp_with_the_credentials_header() -> None:
    """The replaced HTTP sender keeps msrest's signing: a bot with credentials sends its token."""
    import aiohttp
    from aiohttp import web
    from botbuilder.core import MessageFactory
    from botframework.connector.aio import ConnectorClient
    from botframework.connector.auth import MicrosoftAppCredentials

    from bot.adapter import use_aiohttp
    from tests.conftest import serve

    seen: list[tuple[str | None, Any]] = []

    async def send(request: web.Request) -> web.Response:
        seen.append((request.headers.get("Authorization"), await request.json()))
        return web.json_response({"id": "1:1"}, status=201)

    class FixedToken(MicrosoftAppCredentials):  # type: ignore[misc]
        def get_access_token(self, force_refresh: bool = False) -> str:
            return "token-123"

    app = web.Application()
    app.router.add_post("/v3/conversations/{cid}/activities", send)
    runner, url = await serve(app)
    session = aiohttp.ClientSession()
    try:
        client = ConnectorClient(FixedToken("app-id", "secret"), base_url=url)
        use_aiohttp(client, lambda: session)
        result = await client.conversations.send_to_conversation("a:1", MessageFactory.text("hi"))
        assert result.id == "1:1"
        assert seen == [("Bearer token-123", seen[0][1])]
        assert seen[0][1]["text"] == "hi"
    finally:
        await session.close()
        await runner.cleanup()


async def test_a_reply_that_gets_no_answer_raises_what_msrest_raises() -> None:
    import aiohttp
    from botbuilder.core import MessageFactory
    from botframework.connector.aio import ConnectorClient
    from botframework.connector.auth import MicrosoftAppCredentials
    from msrest.exceptions import ClientRequestError

    from bot.adapter import use_aiohttp
    from tests.impact.test_main import free_port

    session = aiohttp.ClientSession()
    try:
        client = ConnectorClient(
            MicrosoftAppCredentials("", ""), base_url=f"http://127.0.0.1:{free_port()}/"
        )
        use_aiohttp(client, lambda: session)
        with pytest.raises(ClientRequestError, match="ClientConnectorError"):
            await client.conversations.send_to_conversation("a:1", MessageFactory.text("hi"))
    finally:
        await session.close()
