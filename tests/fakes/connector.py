"""A fake Bot Connector service (the Teams side of the Bot Framework) on loopback.

It answers the REST calls the SDK's ConnectorClient makes, with Teams' shapes and status codes,
and records them:

    POST /v3/conversations                                  create a conversation   201 {id}
    POST /v3/conversations/{c}/activities                   send                    201 {id}
    POST /v3/conversations/{c}/activities/{a}               reply                   201 {id}
    PUT  /v3/conversations/{c}/activities/{a}               update                  200 {id}
    GET  /v3/conversations/{c}/pagedmembers                 roster page             200

Unknown conversations get 404 ConversationNotFound; updates of unknown activities 404
ActivityNotFound (as Teams does). `fail_next` queues injected failures (429 with Retry-After,
503, 403 ...) in Teams' error shape. Used by the tests and the benchmarks; it is the only fake
in the stack.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Call:
    """One request the bot made to the connector."""

    kind: str  # send | reply | update | create | members
    conversation_id: str
    activity_id: str | None
    body: dict[str, Any]
    status: int


@dataclass
class Failure:
    status: int
    code: str
    retry_after: float | None = None
    kinds: frozenset[str] = frozenset({"send", "reply", "update", "create"})


@dataclass
class ConversationState:
    members: list[dict[str, Any]] = field(default_factory=list)
    # activity id -> the activity as Teams currently shows it (updates replace it)
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)


def teams_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class FakeConnector:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.conversations: dict[str, ConversationState] = {}
        self._failures: deque[Failure] = deque()
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._reply)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        app.router.add_get("/v3/conversations/{cid}/pagedmembers", self._members)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- test controls --------------------------------------------------------------------

    def add_conversation(
        self, conversation_id: str, members: list[dict[str, Any]] | None = None
    ) -> None:
        self.conversations.setdefault(conversation_id, ConversationState(members=members or []))

    def fail_next(self, count: int, failure: Failure) -> None:
        self._failures.extend([failure] * count)

    def activity(self, conversation_id: str, activity_id: str) -> dict[str, Any]:
        return self.conversations[conversation_id].activities[activity_id]

    def shown(self, conversation_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The conversation as a person sees it: (activity id, activity) in order."""
        state = self.conversations[conversation_id]
        return [(aid, state.activities[aid]) for aid in state.order]

    def replace_shown(
        self, conversation_id: str, activity_id: str, activity: dict[str, Any]
    ) -> None:
        """What Teams does with an Action.Execute invoke response: the card changes in place."""
        self.conversations[conversation_id].activities[activity_id] = activity

    async def wait_for(self, predicate: Callable[[], bool], within_s: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), within_s)

    # -- handlers -------------------------------------------------------------------------

    def _injected(self, kind: str) -> web.Response | None:
        if self._failures and kind in self._failures[0].kinds:
            failure = self._failures.popleft()
            response = teams_error(failure.status, failure.code, f"injected {failure.code}")
            if failure.retry_after is not None:
                response.headers["Retry-After"] = f"{failure.retry_after:g}"
            return response
        return None

    async def _record(self, call: Call) -> None:
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return teams_error(400, "BadArgument", "Malformed JSON")
        if not isinstance(body, dict):
            return teams_error(400, "BadArgument", "Expected an object")
        return body

    async def _post_activity(self, request: web.Request, kind: str) -> web.Response:
        cid = request.match_info["cid"]
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if cid not in self.conversations:
            return teams_error(404, "ConversationNotFound", "Conversation not found.")
        if (injected := self._injected(kind)) is not None:
            await self._record(Call(kind, cid, None, body, injected.status))
            return injected
        if len(json.dumps(body)) > 40_000:  # Teams' message size limit is about 40 KB
            return teams_error(413, "MessageSizeTooBig", "Activity is too big")
        activity_id = f"1:{next(self._ids)}"
        state = self.conversations[cid]
        state.activities[activity_id] = body
        state.order.append(activity_id)
        await self._record(Call(kind, cid, activity_id, body, 201))
        return web.json_response({"id": activity_id}, status=201)

    async def _send(self, request: web.Request) -> web.Response:
        return await self._post_activity(request, "send")

    async def _reply(self, request: web.Request) -> web.Response:
        return await self._post_activity(request, "reply")

    async def _update(self, request: web.Request) -> web.Response:
        cid, aid = request.match_info["cid"], request.match_info["aid"]
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if cid not in self.conversations:
            return teams_error(404, "ConversationNotFound", "Conversation not found.")
        if (injected := self._injected("update")) is not None:
            await self._record(Call("update", cid, aid, body, injected.status))
            return injected
        if aid not in self.conversations[cid].activities:
            return teams_error(404, "ActivityNotFound", "Activity not found.")
        self.conversations[cid].activities[aid] = body
        await self._record(Call("update", cid, aid, body, 200))
        return web.json_response({"id": aid}, status=200)

    async def _create(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if (injected := self._injected("create")) is not None:
            await self._record(Call("create", "", None, body, injected.status))
            return injected
        members = body.get("members") or []
        cid = f"a:personal-{next(self._ids)}"
        self.add_conversation(cid, members)
        await self._record(Call("create", cid, None, body, 201))
        return web.json_response({"id": cid, "serviceUrl": self.url}, status=201)

    async def _members(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        if cid not in self.conversations:
            return teams_error(404, "ConversationNotFound", "Conversation not found.")
        members = self.conversations[cid].members
        page_size = min(int(request.query.get("pageSize", "100") or 100), 500)
        start = int(request.query.get("continuationToken", "0") or 0)
        page = members[start : start + page_size]
        body: dict[str, Any] = {"members": page}
        if start + page_size < len(members):
            body["continuationToken"] = str(start + page_size)
        await self._record(Call("members", cid, None, {}, 200))
        return web.json_response(body)
