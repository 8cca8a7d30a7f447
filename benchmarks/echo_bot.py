"""The baseline: a bare botbuilder 4.17 echo bot, the unmodified SDK as its samples use it.

`CloudAdapter(ConfigurationBotFrameworkAuthentication(config))` with an empty APP_ID (local mode:
no token validation, anonymous calls to the connector), an `ActivityHandler` that sends the text
back, and `adapter.process(request, bot)` behind POST /api/messages. Nothing from impact-bot is
imported: in particular not `bot.adapter`'s connector-client reuse.

`benchmarks/answer_roundtrip.py` serves it on a loopback port in the same process as the fake
connector. It can also be run on its own: `.venv/bin/python benchmarks/echo_bot.py [port]`.
"""

from __future__ import annotations

import sys

from aiohttp import web
from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)


class EchoConfig:
    """The attributes ConfigurationBotFrameworkAuthentication reads (as in the SDK samples)."""

    PORT = 3978
    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"
    APP_TENANTID = ""


class EchoBot(ActivityHandler):  # type: ignore[misc]
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(MessageFactory.text(turn_context.activity.text or ""))


def create_echo_app() -> web.Application:
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(EchoConfig()))
    bot = EchoBot()

    async def messages(request: web.Request) -> web.StreamResponse:
        response = await adapter.process(request, bot)
        return response if response is not None else web.Response(status=201)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app


if __name__ == "__main__":
    web.run_app(
        create_echo_app(), host="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 3979
    )
