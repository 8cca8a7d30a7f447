"""A fake Bot Connector service (the Teams side of the Bot Framework) on loopback.

It answers the REST calls the SDK's ConnectorClient makes, with Teams' shapes and status codes,
and records them:

    POST /v3/conversations                                  create a conversation   201 {id}
    POST /v3/conversations/{c}/activities                   send                    201 {id}
    POST /v3/conversations/{c}/activities/{a}               reply                   201 {id}
    PUT  /v3/conversations/{c}/activities/{a}               update                  200 {id}
    GET  /v3/conversations/{c}/pagedmembers                 roster page             200
    GET  /v3/teams/{t}/conversations                         a team's channels       200

Unknown conversations get 404 ConversationNotFound; updates of unknown activities 404
ActivityNotFound (as Teams does); a team's channels, a team the bot is not in 404 NotFound.
The General channel's id is the team's id and Teams gives it no name (`add_channel` adds
others). Creating the 1:1 chat with someone who already has one returns
the same conversation, as Teams does. `fail_next` queues injected failures (429 with Retry-After,
503, 403 ...) in Teams' error shape; `fail_conversation` / `fail_create_for` make every request
to one conversation / every creation of one person's chat fail (a blocked user, say).

Teams' rate limits, when `limits` is given (off by default: a turn's replies in the
conversation tests need not care). Microsoft documents sliding windows per bot per conversation
(7 operations per second, 8 per 2 s, 60 per 30 s, 1,800 per hour) and 50 requests per second
per app per tenant, where every request counts, creating a conversation too. Each request is
counted when it arrives, in its tenant's window and (send, reply, update) its conversation's
window; one that arrives while a window is full is a *violation*: it is answered 429 Throttled
with a Retry-After and recorded in `violations`, which a correct sender keeps empty. The limits
can be multiplied by one factor (`TeamsLimits.scaled`) to shorten benchmarks.

Besides, `throttle_share` and `unavailable_share` answer that share of requests 429 Throttled
(Retry-After `retry_after` seconds, but a share `no_retry_after_share` of them, half by default,
with no Retry-After at all, as Teams sometimes does) or 503, at random from a seeded generator:
Teams throttles for its own reasons too. These are not violations. Roster reads (`members`) and
channel lists count against the tenant's window like every request, draw the same random 429s
and 503s, and take injected failures (`Failure(kinds={"members"})`, `fail_conversation`).

As harsh as Teams, too, where a lenient fake would hide bugs:

- the ambiguous case: `deliver_then_fail_next(count, 502 | 504 | "timeout")` and
  `ambiguous_share` deliver the message (people see it) and THEN answer 502/504, or never answer
  until the client gives up. Teams has no idempotency key for sends, so a sender that retries
  shows it twice: `duplicates()` counts messages delivered more than once (the same content to
  the same conversation);
- request bodies are validated as the Bot Connector does: creating a conversation needs `bot`,
  `members` (each with an id) and the tenant (`tenantId` or `channelData.tenant.id`); an
  activity needs a `type` (400 BadArgument otherwise);
- the size limit is Teams': 28 KB of the request body as sent (UTF-8 bytes, not characters),
  answered 413 MessageSizeTooBig.

`hold()` makes requests wait, unanswered and unprocessed, until `release()`; a held request
whose client went away in the meantime (a killed process) is dropped without effect, like a
request that never reached Teams. The crash test uses it to choose its kill point.

Used by the tests and the benchmarks; it is the only fake in the stack.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import json
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Window = tuple[int, float]  # (at most this many requests, in any this many seconds)
MAX_MESSAGE_BYTES = 28 * 1024  # Teams' message size limit, of the body as sent
AMBIGUOUS_TIMEOUT_SECONDS = 60.0  # a "timeout" answer waits this long (the client gives up first)


@dataclass(frozen=True)
class TeamsLimits:
    """Teams' documented limits for a bot (learn.microsoft.com/microsoftteams/platform/bots/
    how-to/rate-limit): per conversation, and per app per tenant."""

    per_conversation: tuple[Window, ...] = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
    per_tenant: tuple[Window, ...] = ((50, 1.0),)

    def scaled(self, factor: float) -> TeamsLimits:
        """Every count times `factor` (windows unchanged): the same run, `factor` times faster."""
        return TeamsLimits(
            per_conversation=tuple((int(n * factor), w) for n, w in self.per_conversation),
            per_tenant=tuple((int(n * factor), w) for n, w in self.per_tenant),
        )


@dataclass
class Call:
    """One request the bot made to the connector."""

    kind: str  # send | reply | update | create | members | channels
    conversation_id: str
    activity_id: str | None
    body: dict[str, Any]
    status: int
    tenant_id: str = ""
    at: float = 0.0


@dataclass
class Failure:
    status: int
    code: str
    retry_after: float | None = None
    kinds: frozenset[str] = frozenset({"send", "reply", "update", "create"})
    delivered: bool = False  # the ambiguous case: delivered first, then this answer


@dataclass(frozen=True)
class Violation:
    """A request that arrived while one of Teams' windows was already full."""

    key: str  # "tenant:<id>" or "conversation:<id>"
    window: Window
    kind: str
    at: float
    # what the full window held when it arrived: (kind, count) pairs, most first
    held: tuple[tuple[str, int], ...] = ()

    def describe(self) -> str:
        count, seconds = self.window
        held = ", ".join(f"{n} {kind}" for kind, n in self.held)
        return f"{self.kind} to {self.key} over {count}/{seconds:g}s (the window held {held})"


@dataclass
class ConversationState:
    members: list[dict[str, Any]] = field(default_factory=list)
    # activity id -> the activity as Teams currently shows it (updates replace it)
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    tenant_id: str = ""


def teams_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@dataclass(frozen=True)
class _Full:
    """The first of a key's windows that was already full when a request arrived."""

    window: Window
    wait: float  # seconds until it would have had room
    held: tuple[tuple[str, int], ...]  # what it held, by kind


class _Windows:
    """Arrival times (and kinds) per key, and whether one more arrival would overfill a
    window."""

    def __init__(self) -> None:
        self._arrivals: dict[str, deque[float]] = {}
        self._kinds: dict[str, deque[str]] = {}

    def arrive(
        self, key: str, windows: tuple[Window, ...], now: float, kind: str = ""
    ) -> _Full | None:
        """Record an arrival. Returns the first window that was already full, if any."""
        arrivals = self._arrivals.setdefault(key, deque())
        kinds = self._kinds.setdefault(key, deque())
        longest = max(w for _, w in windows)
        while arrivals and arrivals[0] <= now - longest:
            arrivals.popleft()
            kinds.popleft()
        full: _Full | None = None
        ordered = list(arrivals)
        for count, seconds in windows:
            first = bisect.bisect_right(ordered, now - seconds)
            if len(ordered) - first >= count:
                # the arrival that has to leave the window before another fits
                oldest = ordered[len(ordered) - count]
                held = Counter(list(kinds)[first:]).most_common()
                full = _Full((count, seconds), max(oldest + seconds - now, 0.001), tuple(held))
                break
        arrivals.append(now)
        kinds.append(kind)
        return full


class FakeConnector:
    def __init__(
        self,
        *,
        limits: TeamsLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        throttle_share: float = 0.0,
        unavailable_share: float = 0.0,
        retry_after: float = 1.0,
        no_retry_after_share: float = 0.5,
        ambiguous_share: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.calls: list[Call] = []
        self.conversations: dict[str, ConversationState] = {}
        self.limits = limits
        self.clock = clock
        self.throttle_share = throttle_share
        self.unavailable_share = unavailable_share
        self.retry_after = retry_after
        self.no_retry_after_share = no_retry_after_share
        self.ambiguous_share = ambiguous_share
        self.ambiguous = 0  # messages delivered and then answered 502/504 or not at all
        self.violations: list[Violation] = []
        self.requests: Counter[str] = Counter()  # kind -> requests that arrived (not dropped)
        self.throttled = 0  # random 429s answered (not violations)
        self.unavailable = 0  # random 503s answered
        self.dropped: list[Call] = []  # held requests whose client had gone
        self._random = random.Random(seed)
        self._windows = _Windows()
        self._failures: deque[Failure] = deque()
        self._conversation_failures: dict[str, Failure] = {}
        self._create_failures: dict[str, Failure] = {}
        self._personal_chats: dict[tuple[str, str], str] = {}  # (tenant, user id) -> chat id
        self.channels: dict[str, list[dict[str, Any]]] = {}  # team id -> channels beyond General
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._gate: asyncio.Event | None = None
        self._held: list[web.Request] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._reply)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        app.router.add_get("/v3/conversations/{cid}/pagedmembers", self._members)
        app.router.add_get("/v3/teams/{tid}/conversations", self._channels)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/"
        return self.url

    async def stop(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- test controls --------------------------------------------------------------------

    def add_conversation(
        self,
        conversation_id: str,
        members: list[dict[str, Any]] | None = None,
        *,
        tenant_id: str = "",
    ) -> None:
        self.conversations.setdefault(
            conversation_id, ConversationState(members=members or [], tenant_id=tenant_id)
        )

    def remove_conversation(self, conversation_id: str) -> None:
        """The chat is gone (e.g. the person left the organisation): 404 from now on."""
        self.conversations.pop(conversation_id, None)
        for key, chat in list(self._personal_chats.items()):
            if chat == conversation_id:
                del self._personal_chats[key]

    def add_channel(self, team_id: str, channel_id: str, name: str) -> None:
        """Another channel in a team (its General channel is the team's own conversation)."""
        self.channels.setdefault(team_id, []).append({"id": channel_id, "name": name})
        self.add_conversation(channel_id)

    def fail_next(self, count: int, failure: Failure) -> None:
        self._failures.extend([failure] * count)

    def deliver_then_fail_next(
        self,
        count: int,
        answer: int | str = 502,
        kinds: frozenset[str] = frozenset({"send", "reply"}),
    ) -> None:
        """The next `count` requests of `kinds` (sends/replies; updates too if asked) are
        delivered (an update applied), then answered 502/504 (or, with "timeout", not answered
        until the client gives up): the ambiguous case."""
        status = 0 if answer == "timeout" else int(answer)
        code = {0: "Timeout", 502: "BadGateway", 504: "GatewayTimeout"}.get(status, "Error")
        failure = Failure(status, code, kinds=kinds, delivered=True)
        self._failures.extend([failure] * count)

    def duplicates(self) -> int:
        """Messages people were shown more than once (the same content delivered again to the
        same conversation)."""
        seen: Counter[tuple[str, str]] = Counter()
        for call in self.calls:
            if call.kind in ("send", "reply") and call.activity_id is not None:
                seen[(call.conversation_id, _identity(call.body))] += 1
        return sum(count - 1 for count in seen.values() if count > 1)

    def fail_conversation(self, conversation_id: str, failure: Failure | None) -> None:
        """Every request to this conversation fails so (None: stop failing)."""
        if failure is None:
            self._conversation_failures.pop(conversation_id, None)
        else:
            self._conversation_failures[conversation_id] = failure

    def fail_create_for(self, user_id: str, failure: Failure | None) -> None:
        """Creating the 1:1 chat with this user fails so (None: stop failing)."""
        if failure is None:
            self._create_failures.pop(user_id, None)
        else:
            self._create_failures[user_id] = failure

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

    def personal_chat(self, tenant_id: str, user_id: str) -> str | None:
        """The 1:1 chat created with this user, if any."""
        return self._personal_chats.get((tenant_id, user_id))

    def received(self) -> Counter[str]:
        """Messages accepted per conversation (sends and replies; what people were shown)."""
        return Counter(
            call.conversation_id
            for call in self.calls
            if call.kind in ("send", "reply") and call.status == 201
        )

    def accepted(self, kind: str) -> int:
        return sum(1 for call in self.calls if call.kind == kind and call.status < 300)

    async def wait_for(self, predicate: Callable[[], bool], within_s: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), within_s)

    # -- holding requests -----------------------------------------------------------------

    def hold(self) -> None:
        """Requests arriving from now on wait, unprocessed, until `release()`."""
        if self._gate is None:
            self._gate = asyncio.Event()

    def release(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.set()

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def held_disconnected(self) -> int:
        """Held requests whose client has gone away."""
        return sum(1 for request in self._held if _gone(request))

    async def _wait_at_gate(self, request: web.Request) -> bool:
        """False if the request was held and its client went away meanwhile (drop it)."""
        gate = self._gate
        if gate is None:
            return True
        self._held.append(request)
        await self._notify()
        try:
            await gate.wait()
        finally:
            self._held.remove(request)
        return not _gone(request)

    # -- handlers -------------------------------------------------------------------------

    def _injected_failure(self, kind: str, conversation_id: str = "") -> Failure | None:
        if self._failures and kind in self._failures[0].kinds:
            return self._failures.popleft()
        if conversation_id in self._conversation_failures:
            candidate = self._conversation_failures[conversation_id]
            return candidate if kind in candidate.kinds else None
        return None

    def _injected(self, kind: str, conversation_id: str = "") -> web.Response | None:
        failure = self._injected_failure(kind, conversation_id)
        if failure is None:
            return None
        return _error_response(failure.status, failure.code, f"injected {failure.code}", failure)

    def _limited(self, kind: str, tenant_id: str, conversation_id: str) -> web.Response | None:
        """Count the request in Teams' windows; 429 if one was already full (a violation), or
        a random 429 / 503 if configured."""
        self.requests[kind] += 1
        now = self.clock()
        if self.limits is not None:
            keys = [(f"tenant:{tenant_id}", self.limits.per_tenant)]
            if conversation_id and kind in ("send", "reply", "update"):
                keys.append((f"conversation:{conversation_id}", self.limits.per_conversation))
            for key, windows in keys:
                full = self._windows.arrive(key, windows, now, kind)
                if full is not None:
                    self.violations.append(Violation(key, full.window, kind, now, full.held))
                    count, seconds = full.window
                    return _error_response(
                        429, "Throttled", f"{key} over {count} per {seconds:g}s", full.wait
                    )
        if kind in ("send", "reply", "update", "create", "members", "channels"):
            draw = self._random.random()
            if draw < self.throttle_share:
                self.throttled += 1
                silent = self._random.random() < self.no_retry_after_share
                return _error_response(
                    429, "Throttled", "Too many requests", None if silent else self.retry_after
                )
            if draw < self.throttle_share + self.unavailable_share:
                self.unavailable += 1
                return _error_response(503, "ServiceUnavailable", "Service unavailable")
        return None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _record(self, call: Call) -> None:
        call.at = self.clock()
        self.calls.append(call)
        await self._notify()

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return teams_error(400, "BadArgument", "Malformed JSON")
        if not isinstance(body, dict):
            return teams_error(400, "BadArgument", "Expected an object")
        return body

    def _tenant(self, cid: str, body: dict[str, Any]) -> str:
        state = self.conversations.get(cid)
        if state is not None and state.tenant_id:
            return state.tenant_id
        conversation = body.get("conversation") or {}
        tenant = (body.get("channelData") or {}).get("tenant") or {}
        return str(conversation.get("tenantId") or tenant.get("id") or "")

    async def _post_activity(self, request: web.Request, kind: str) -> web.StreamResponse:
        cid = request.match_info["cid"]
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if not body.get("type"):
            return teams_error(400, "BadArgument", "Activity type is required")
        tenant = self._tenant(cid, body)
        if not await self._wait_at_gate(request):
            self.dropped.append(Call(kind, cid, None, body, 0, tenant))
            return teams_error(499, "ClientGone", "client went away while held")
        if (limited := self._limited(kind, tenant, cid)) is not None:
            await self._record(Call(kind, cid, None, body, limited.status, tenant))
            return limited
        if cid not in self.conversations:
            await self._record(Call(kind, cid, None, body, 404, tenant))
            return teams_error(404, "ConversationNotFound", "Conversation not found.")
        failure = self._injected_failure(kind, cid)
        if (
            failure is None
            and self.ambiguous_share
            and self._random.random() < self.ambiguous_share
        ):
            status = self._random.choice([502, 504, 0])
            failure = Failure(status, "Ambiguous", delivered=True)
        if failure is not None and not failure.delivered:
            await self._record(Call(kind, cid, None, body, failure.status, tenant))
            return _error_response(
                failure.status, failure.code, f"injected {failure.code}", failure
            )
        if len(await request.read()) > MAX_MESSAGE_BYTES:
            await self._record(Call(kind, cid, None, body, 413, tenant))
            return teams_error(413, "MessageSizeTooBig", "Activity is too big")
        activity_id = f"1:{next(self._ids)}"
        state = self.conversations[cid]
        state.activities[activity_id] = body
        state.order.append(activity_id)
        await self._record(Call(kind, cid, activity_id, body, 201, tenant))
        if failure is not None:  # delivered; now the answer is lost or an error
            return await self._lost_answer(request, failure)
        return web.json_response({"id": activity_id}, status=201)

    async def _send(self, request: web.Request) -> web.StreamResponse:
        return await self._post_activity(request, "send")

    async def _reply(self, request: web.Request) -> web.StreamResponse:
        return await self._post_activity(request, "reply")

    async def _update(self, request: web.Request) -> web.Response:
        cid, aid = request.match_info["cid"], request.match_info["aid"]
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        tenant = self._tenant(cid, body)
        if not await self._wait_at_gate(request):
            self.dropped.append(Call("update", cid, aid, body, 0, tenant))
            return teams_error(499, "ClientGone", "client went away while held")
        if (limited := self._limited("update", tenant, cid)) is not None:
            await self._record(Call("update", cid, aid, body, limited.status, tenant))
            return limited
        if cid not in self.conversations:
            return teams_error(404, "ConversationNotFound", "Conversation not found.")
        failure = self._injected_failure("update", cid)
        if failure is not None and not failure.delivered:
            await self._record(Call("update", cid, aid, body, failure.status, tenant))
            return _error_response(
                failure.status, failure.code, f"injected {failure.code}", failure
            )
        if aid not in self.conversations[cid].activities:
            return teams_error(404, "ActivityNotFound", "Activity not found.")
        self.conversations[cid].activities[aid] = body
        await self._record(Call("update", cid, aid, body, 200, tenant))
        if failure is not None:  # applied; now the answer is lost or an error
            return await self._lost_answer(request, failure)
        return web.json_response({"id": aid}, status=200)

    async def _lost_answer(self, request: web.Request, failure: Failure) -> web.Response:
        """The answer to a request Teams acted on: 502/504, or none until the client gives up."""
        self.ambiguous += 1
        if failure.status == 0:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(_until_gone(request), AMBIGUOUS_TIMEOUT_SECONDS)
            return teams_error(504, "GatewayTimeout", "too late")
        return _error_response(failure.status, failure.code, "delivered, then failed")

    async def _create(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        tenant = str(
            body.get("tenantId")
            or body.get("tenantID")
            or ((body.get("channelData") or {}).get("tenant") or {}).get("id")
            or ""
        )
        if (invalid := _invalid_create(body, tenant)) is not None:
            await self._record(Call("create", "", None, body, 400, tenant))
            return teams_error(400, "BadArgument", invalid)
        if not await self._wait_at_gate(request):
            self.dropped.append(Call("create", "", None, body, 0, tenant))
            return teams_error(499, "ClientGone", "client went away while held")
        if (limited := self._limited("create", tenant, "")) is not None:
            await self._record(Call("create", "", None, body, limited.status, tenant))
            return limited
        if (injected := self._injected("create")) is not None:
            await self._record(Call("create", "", None, body, injected.status, tenant))
            return injected
        members = body.get("members") or []
        personal = not body.get("isGroup") and len(members) == 1
        if personal:
            user_id = str(members[0].get("id") or "")
            if (failure := self._create_failures.get(user_id)) is not None:
                await self._record(Call("create", "", None, body, failure.status, tenant))
                return _error_response(failure.status, failure.code, "injected", failure)
            # Teams has one 1:1 chat per bot and person: creating it again returns it.
            cid = self._personal_chats.get((tenant, user_id)) or f"a:personal-{next(self._ids)}"
            self._personal_chats[(tenant, user_id)] = cid
        else:
            cid = f"a:personal-{next(self._ids)}"
        self.add_conversation(cid, members, tenant_id=tenant)
        await self._record(Call("create", cid, None, body, 201, tenant))
        return web.json_response({"id": cid, "serviceUrl": self.url}, status=201)

    async def _members(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        if not await self._wait_at_gate(request):
            return teams_error(499, "ClientGone", "client went away while held")
        tenant = self.conversations[cid].tenant_id if cid in self.conversations else ""
        if (limited := self._limited("members", tenant, "")) is not None:
            await self._record(Call("members", cid, None, {}, limited.status, tenant))
            return limited
        if (injected := self._injected("members", cid)) is not None:
            await self._record(Call("members", cid, None, {}, injected.status, tenant))
            return injected
        if cid not in self.conversations:
            return teams_error(404, "ConversationNotFound", "Conversation not found.")
        members = self.conversations[cid].members
        page_size = min(int(request.query.get("pageSize", "100") or 100), 500)
        start = int(request.query.get("continuationToken", "0") or 0)
        page = members[start : start + page_size]
        body: dict[str, Any] = {"members": page}
        if start + page_size < len(members):
            body["continuationToken"] = str(start + page_size)
        await self._record(Call("members", cid, None, {}, 200, tenant))
        return web.json_response(body)

    async def _channels(self, request: web.Request) -> web.Response:
        """GET /v3/teams/{id}/conversations: a ConversationList, General (no name) first."""
        tid = request.match_info["tid"]
        tenant = self.conversations[tid].tenant_id if tid in self.conversations else ""
        if (limited := self._limited("channels", tenant, "")) is not None:
            await self._record(Call("channels", tid, None, {}, limited.status, tenant))
            return limited
        if tid not in self.conversations:
            await self._record(Call("channels", tid, None, {}, 404, tenant))
            return teams_error(404, "NotFound", "Team not found.")
        body = {"conversations": [{"id": tid}, *self.channels.get(tid, [])]}
        await self._record(Call("channels", tid, None, {}, 200, tenant))
        return web.json_response(body)


def _invalid_create(body: dict[str, Any], tenant: str) -> str | None:
    """What the Bot Connector refuses in a create-conversation body (400 BadArgument)."""
    bot = body.get("bot")
    if not isinstance(bot, dict) or not bot.get("id"):
        return "Bot is required"
    members = body.get("members")
    if not isinstance(members, list) or not members:
        return "Members are required"
    if any(not isinstance(member, dict) or not member.get("id") for member in members):
        return "Every member needs an id"
    if not tenant:
        return "Tenant is required"
    return None


def _identity(body: dict[str, Any]) -> str:
    """Which message this is: its content, less what differs between two sends of it."""
    content = {k: v for k, v in body.items() if k not in ("id", "timestamp", "localTimestamp")}
    return json.dumps(content, sort_keys=True)


async def _until_gone(request: web.Request) -> None:
    """Returns once the client has closed its connection (polling: aiohttp has no event)."""
    while not _gone(request):  # noqa: ASYNC110
        await asyncio.sleep(0.05)


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _error_response(
    status: int, code: str, message: str, retry_after: Failure | float | None = None
) -> web.Response:
    response = teams_error(status, code, message)
    seconds = retry_after.retry_after if isinstance(retry_after, Failure) else retry_after
    if seconds is not None:
        response.headers["Retry-After"] = f"{seconds:g}"
    return response
