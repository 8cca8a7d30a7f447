"""Smoke test: a tiny echo bot, in-process, chatted with through Agents Playground in Chromium."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from botbuilder.core import ActivityHandler, TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity, ActivityTypes
from playwright.async_api import Browser

from tests.e2e.playground import REPO_ROOT, PlaygroundPage, start_playground

ARTIFACTS = REPO_ROOT / "artifacts" / "e2e"


class _NoAuthConfig:
    """No app id/password: CloudAdapter skips JWT checks, which is what the Playground needs."""

    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"
    APP_TENANTID = ""


class EchoBot(ActivityHandler):
    def __init__(self) -> None:
        self.received: list[Activity] = []

    async def on_turn(self, turn_context: TurnContext) -> None:
        self.received.append(turn_context.activity)
        await super().on_turn(turn_context)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(f"Echo: {turn_context.activity.text}")


@contextlib.asynccontextmanager
async def serve_bot(bot: ActivityHandler) -> AsyncIterator[str]:
    """Serve ``bot`` on a free loopback port; yields its messaging endpoint URL."""
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(_NoAuthConfig()))

    async def messages(request: web.Request) -> web.StreamResponse:
        response = await adapter.process(request, bot)
        return response if response is not None else web.Response(status=201)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/api/messages"
    finally:
        await runner.cleanup()


@pytest.mark.e2e
async def test_echo_through_playground(browser: Browser, tmp_path: Path) -> None:
    bot = EchoBot()
    async with (
        serve_bot(bot) as endpoint,
        start_playground(endpoint, tmp_path / "playground") as playground,
    ):
        chat = await PlaygroundPage.open(browser, playground)
        try:
            await chat.send_text("hello")
            reply = await chat.wait_for_message_containing("Echo: hello")
            assert (await reply.inner_text()).strip() == "Echo: hello"
            await chat.screenshot(ARTIFACTS / "smoke.png")
        finally:
            await chat.close()

    by_type = {a.type: a for a in bot.received}
    assert {ActivityTypes.installation_update, ActivityTypes.conversation_update} <= set(by_type)
    message = by_type[ActivityTypes.message]
    assert message.text == "hello"
    assert message.channel_id == "msteams"
    assert message.service_url == playground.service_url
    assert message.conversation.conversation_type == "personal"
    assert message.from_property.aad_object_id
    assert message.channel_data["tenant"]["id"]
