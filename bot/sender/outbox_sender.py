"""The outbox sender: the one place proactive messages leave for Teams.

Invitations, nudges, summaries and huddle prompts are queued in the outbox (store/outbox.py) in
the same transaction as the change that caused them. `OutboxSender` drains it: it claims a few
due rows at a time under a lease, sends each through the Bot Framework SDK's ConnectorClient
within Teams' rate limits, retries what Teams says is transient, and records every outcome.

    python -m bot.sender.outbox_sender [--database-url URL] [--once-until-empty] ...

runs it on its own (see `main`); the service runs `OutboxSender.run` beside the bot.

What gets sent, exactly once?
-----------------------------
*Queued* exactly once: `dedupe_key` is unique and the row is written in the transaction that
caused it, so a message exists if and only if its cause was committed, and only once.

*Sent* at least once, and exactly once unless a process dies (or loses its database) in a window
of a few milliseconds per message, or the network fails ambiguously:

1. One sender at a time per row. A claim leases rows (`lease_owner`, `lease_until`); PostgreSQL
   picks them FOR UPDATE SKIP LOCKED, SQLite has one writer. A request to Teams is started only
   while at least `request_timeout + lease_margin` of the lease remains, and the HTTP client
   gives up after `request_timeout`, so a lease cannot run out while its holder is still
   sending. (This assumes the processes' clocks agree to well within `lease_margin`; they
   compare `lease_until` with their own clock.)
2. Outcomes are compare-and-set on the lease: a process that somehow lost its lease cannot
   overwrite another's outcome.
3. The result is written immediately after Teams answers, in its own one-row transaction, not
   batched with others, and a claim takes only as many rows as can be in flight at once.

The window that remains: Teams has accepted a message, and the process dies (kill -9, power,
OOM) or cannot reach the database before `mark_sent` commits. The row is still pending; when its
lease ends another process sends it again, and that person sees it twice. The window is the
response's trip back, the hop to the database thread and one small commit (one UPDATE; the new
chat of a first contact is stored before the send, not in this transaction, to keep it short).
Measured with two processes at 250 messages/s each on a busy 2-core machine (PostgreSQL): p50
about 15 ms, p99 about 160 ms, most of it waiting for the GIL behind the HTTP worker threads;
so a kill -9 at a random moment duplicated 1 to 7 of 500 invitations (6 runs, none lost). At
Teams' real 50/s the process is mostly idle and the expected count is a fraction of one, plus
the Teams round trip. It cannot be closed from our side: the Bot Connector API
has no idempotency key for sends, and asking Teams whether a message arrived is not possible
either. The other case is a network failure after the request left (a read timeout, a reset):
we cannot know whether Teams took it, and retry, choosing a rare duplicate over a lost
invitation. A clean shutdown (`stop_event`) finishes the requests in flight and records them, so
it never duplicates. Creating the 1:1 chat twice is harmless: Teams returns the existing chat.

Rate limits (Teams, learn.microsoft.com/microsoftteams/platform/bots/how-to/rate-limit): sliding
windows per conversation (7/1 s, 8/2 s, 60/30 s, 1,800/h) and per tenant (50 requests/s, every
request, creating a conversation too). `RateLimiter` counts a request in its windows from the
moment it starts until it completes, and after that by its completion time: Teams counts a
request when it arrives, which is somewhere in between, so however long a request takes on the
way, no window can see more than its limit. The limiter is per process: when several processes
send for the same tenant, give each `share` = 1/N of the limits.

Retries: 429 (Throttled; at least Retry-After), 412, 502, 503, 504 and network errors are retried
with exponential back-off and full jitter (capped), up to `max_attempts` in all. A 429 also
pauses that conversation for Retry-After, and a burst of them pauses the tenant. Nothing else is
retried: 403 (ConversationBlockedByUser, BotNotInConversationRoster, BotDisabledByAdmin,
ForbiddenOperationException), 404 ConversationNotFound and 413 MessageSizeTooBig (our bug, logged
as an error) are recorded as failed; for a blocked user, a bot no longer in the roster or a
conversation that is gone, the stored ConversationRef is deleted.

msrest (under the SDK's ConnectorClient) would send through requests with its own urllib3 retry
policy (3 retries on 408, 5xx and connection errors). The sender's clients send through the
adapter's aiohttp transport instead (bot.adapter.use_aiohttp), which never retries, so every
retry is ours: counted, rate-limited, and with a fresh lease check.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import math
import os
import random
import socket
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

import aiohttp
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
)
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
)
from msrest.exceptions import ClientException, HttpOperationError
from sqlmodel import Session, col, select

from bot.adapter import use_aiohttp, use_fast_json_objects
from bot.config import Settings
from store import outbox
from store.db import Database, DatabaseUnavailable
from store.outbox import Claimed
from store.people import ConversationRef, Person, forget_conversation, remember_chat
from store.types import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")
Window = tuple[int, float]  # at most this many requests in any this many seconds
Sleep = Callable[[float], Awaitable[None]]

RETRYABLE_STATUS = frozenset({412, 429, 502, 503, 504})
PERMANENT_CODES = frozenset(
    {
        "ConversationBlockedByUser",
        "BotNotInConversationRoster",
        "BotDisabledByAdmin",
        "ForbiddenOperationException",
        "ConversationNotFound",
        "MessageSizeTooBig",
    }
)
# The stored conversation can no longer be used: forget it.
DROP_REFERENCE_CODES = frozenset(
    {"ConversationBlockedByUser", "BotNotInConversationRoster", "ConversationNotFound"}
)
PERSONAL = "personal"


# -- rate limits ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimits:
    per_conversation: tuple[Window, ...] = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
    per_tenant: tuple[Window, ...] = ((50, 1.0),)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(
            per_conversation=(
                (settings.per_conversation_per_second, 1.0),
                (settings.per_conversation_per_2s, 2.0),
                (settings.per_conversation_per_30s, 30.0),
                (settings.per_conversation_per_hour, 3600.0),
            ),
            per_tenant=((settings.per_tenant_per_second, 1.0),),
        )

    def scaled(self, factor: float) -> RateLimits:
        """Counts times `factor`: benchmarks run Teams' limits faster (the fake does the same)."""
        return self._map(lambda n: int(n * factor))

    def shared(self, share: float) -> RateLimits:
        """This process's part when `1/share` processes send for the same tenants: counts times
        `share`, rounded down (at least 1), so that the parts never add up to more than the
        whole."""
        return self._map(lambda n: max(1, math.floor(n * share)))

    def _map(self, change: Callable[[int], int]) -> RateLimits:
        return RateLimits(
            per_conversation=tuple((change(n), w) for n, w in self.per_conversation),
            per_tenant=tuple((change(n), w) for n, w in self.per_tenant),
        )


class _Key:
    __slots__ = ("done", "in_flight", "last_used", "paused_until", "throttles", "windows")

    def __init__(self, windows: tuple[Window, ...]) -> None:
        self.windows = windows
        # completion times, oldest first; only the latest `max count` can matter
        self.done: deque[float] = deque(maxlen=max(n for n, _ in windows))
        self.in_flight = 0
        self.paused_until = 0.0
        self.throttles: deque[float] = deque(maxlen=64)
        self.last_used = 0.0


class Permit:
    """Leave to make one request; `finish()` when its response (or error) is in."""

    def __init__(self, limiter: RateLimiter, keys: Sequence[_Key]) -> None:
        self._limiter = limiter
        self._keys = keys
        self._finished = False

    def finish(self) -> None:
        if not self._finished:
            self._finished = True
            self._limiter._finish(self._keys)


class RateLimiter:
    """Sliding windows per key (`conversation:<id>`, `tenant:<id>`), counting a request from
    its start (as in flight) and then at its completion, so that wherever in between Teams
    counts it, no window sees more than its limit. `clock` is monotonic seconds and `sleep`
    waits on it (both injectable, so tests run in virtual time)."""

    PRUNE_EVERY = 4096

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        margin: float = 0.001,
        quantum: float = 0.25,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._margin = margin  # added to every window: float rounding, clock granularity
        self._quantum = quantum  # longest single sleep, so a stopping sender is not held up
        self._keys: dict[str, _Key] = {}
        self._finished = asyncio.Event()
        self._acquired = 0

    def key(self, name: str, windows: tuple[Window, ...]) -> _Key:
        found = self._keys.get(name)
        if found is None or found.windows != windows:
            found = self._keys[name] = _Key(windows)
        return found

    def delay(self, key: _Key, now: float) -> float:
        """Seconds until `key` has room for one more request (inf: wait for one to finish)."""
        wait = key.paused_until - now
        for count, seconds in key.windows:
            room = count - key.in_flight
            if room <= 0:
                return math.inf
            if len(key.done) >= room:
                # the room-th latest completion must have left the window
                leaves = key.done[-room] + seconds + self._margin
                wait = max(wait, leaves - now)
        return wait

    async def acquire(
        self,
        keys: Sequence[_Key],
        *,
        max_wait: float,
        stopping: Callable[[], bool] = lambda: False,
    ) -> Permit | float:
        """A permit once every key has room, or (instead) the estimated wait in seconds if that
        would take longer than `max_wait` or the caller is stopping."""
        deadline = self._clock() + max_wait
        while True:
            now = self._clock()
            wait = max(self.delay(key, now) for key in keys)
            if wait <= 0:
                for key in keys:
                    key.in_flight += 1
                    key.last_used = now
                self._acquired += 1
                if self._acquired % self.PRUNE_EVERY == 0:
                    self._prune(now)
                return Permit(self, keys)
            if stopping():
                return 0.0 if math.isinf(wait) else wait
            if now + wait > deadline and not math.isinf(wait):
                return wait
            if math.isinf(wait):
                # Only a completion can make room; requests end within their timeout.
                finished = self._finished
                await finished.wait()
            else:
                await self._sleep(min(max(wait, 1e-6), self._quantum))

    def _finish(self, keys: Sequence[_Key]) -> None:
        now = self._clock()
        for key in keys:
            key.in_flight -= 1
            key.done.append(now)
        finished, self._finished = self._finished, asyncio.Event()
        finished.set()

    def throttled(self, conversation: _Key | None, tenant: _Key, retry_after: float) -> None:
        """Teams answered 429. Nothing more to that conversation until Retry-After; and if the
        tenant gets a burst of them (a fifth of its per-second limit within a second), nothing
        more to the tenant either. A single 429 while our own count is within the documented
        limits is more likely a per-conversation or passing throttle than the tenant's."""
        now = self._clock()
        until = now + retry_after
        if conversation is not None:
            conversation.paused_until = max(conversation.paused_until, until)
        tenant.throttles.append(now)
        per_second = min((n for n, w in tenant.windows if w <= 1.0), default=tenant.windows[0][0])
        burst = max(2, math.ceil(per_second / 5))
        recent = sum(1 for at in tenant.throttles if at > now - 1.0)
        if recent >= burst:
            tenant.paused_until = max(tenant.paused_until, until)
            log.warning("Teams is throttling this tenant (%d 429s within 1 s): pausing", recent)

    def _prune(self, now: float) -> None:
        for name, key in list(self._keys.items()):
            longest = max(w for _, w in key.windows)
            idle = key.in_flight == 0 and key.paused_until <= now
            if (
                idle
                and key.last_used < now - longest - 1
                and (not key.done or key.done[-1] < now - longest)
            ):
                del self._keys[name]

    def __len__(self) -> int:
        return len(self._keys)


# -- what Teams said --------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A failed request: HTTP status (None: no answer), Teams' error code, Retry-After."""

    status: int | None
    code: str
    message: str
    retry_after: float | None = None

    @property
    def transient(self) -> bool:
        return self.status is None or self.status in RETRYABLE_STATUS

    def describe(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - (now or utcnow())).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), 3600.0)


def classify(exc: BaseException) -> Problem:
    """Status, Teams' error code and Retry-After from what the SDK (msrest) raised."""
    if isinstance(exc, HttpOperationError):
        response = exc.response
        # requests' response says status_code; aiohttp's (the transport we use) says status.
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
        headers = getattr(response, "headers", None) or {}
        code, message = _teams_error(exc, response)
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return Problem(
            int(status) if status is not None else None,
            code or f"HTTP{status}",
            message,
            retry_after,
        )
    name = type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    detail = f"{exc}" + (f" ({type(cause).__name__})" if cause is not None else "")
    return Problem(None, "NetworkError" if isinstance(exc, ClientException) else name, detail)


def _teams_error(exc: HttpOperationError, response: Any) -> tuple[str, str]:
    """Teams' `{"error": {"code", "message"}}`, via the SDK's model or the raw body."""
    model = getattr(getattr(exc, "error", None), "error", None)
    code = getattr(model, "code", None)
    message = getattr(model, "message", None)
    if not code:
        with contextlib.suppress(Exception):
            body = json.loads(getattr(response, "text", "") or "{}")
            error = body.get("error") or {}
            code, message = error.get("code"), error.get("message")
    return str(code or ""), str(message or "")


# -- the sender -------------------------------------------------------------------------------


class _Released(Exception):
    """The row went back to the outbox unsent (stopping, or its lease would not last)."""


@dataclass
class _Job:
    row: Claimed
    conversation_id: str | None  # None: create the 1:1 chat first
    service_url: str
    lease_deadline: float  # monotonic
    person_id: int | None = None
    created: bool = field(default=False)


@dataclass(frozen=True)
class DrainResult:
    claimed: int
    pending: int  # rows still pending after this batch (any process)


class OutboxSender:
    """Drains the outbox into Teams. See the module docstring for the guarantees.

    `auth` is the SDK's BotFrameworkAuthentication (`bot.adapter.sdk_authentication(settings)`),
    used through `create_connector_factory`. The sender keeps its own ConnectorClient per
    service URL rather than the adapter's shared ones, with its own request timeout and its own
    aiohttp connection pool (sized for `concurrency`).
    """

    def __init__(
        self,
        db: Database,
        auth: BotFrameworkAuthentication,
        *,
        app_id: str = "",
        limits: RateLimits | None = None,
        max_attempts: int = 8,
        backoff_base_seconds: float = 1.0,
        backoff_cap_seconds: float = 120.0,
        concurrency: int = 16,
        lease_seconds: float = 60.0,
        lease_margin_seconds: float = 2.0,
        request_timeout_seconds: float = 15.0,
        max_limiter_wait_seconds: float = 10.0,
        poll_seconds: float = 1.0,
        owner: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if lease_seconds <= request_timeout_seconds + lease_margin_seconds:
            raise ValueError("lease_seconds must exceed request_timeout + lease_margin")
        self.db = db
        self.auth = auth
        self.app_id = app_id
        self.limits = limits or RateLimits()
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base_seconds
        self.backoff_cap = backoff_cap_seconds
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.lease_margin = lease_margin_seconds
        self.request_timeout = request_timeout_seconds
        self.max_limiter_wait = max_limiter_wait_seconds
        self.poll_seconds = poll_seconds
        self.owner = owner or default_owner()
        self.clock = clock
        self.monotonic = monotonic
        self.limiter = RateLimiter(clock=monotonic, sleep=sleep)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clients: dict[str, ConnectorClient] = {}
        self._http: aiohttp.ClientSession | None = None
        self._factory: Any = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._held: set[int] = set()
        self._turns: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, db: Database, *, scale: float = 1.0, share: float = 1.0, **kw: Any
    ) -> OutboxSender:
        """The sender as configured. `scale` speeds Teams' limits up for benchmarks (counts
        times `scale`, back-off divided by it); `share` is this process's part of the limits."""
        from bot.adapter import sdk_authentication

        limits = RateLimits.from_settings(settings).scaled(scale).shared(share)
        kw.setdefault("max_attempts", settings.send_max_attempts)
        kw.setdefault("backoff_base_seconds", 1.0 / scale)
        kw.setdefault("backoff_cap_seconds", settings.send_backoff_cap_seconds / scale)
        return cls(db, sdk_authentication(settings), app_id=settings.app_id, limits=limits, **kw)

    # -- public -------------------------------------------------------------------------------

    def wake(self) -> None:
        """Something was queued (call after its transaction committed, on the event loop)."""
        self._wake.set()

    async def drain_once(self, now: datetime | None = None) -> DrainResult:
        """Claim one batch of due rows (at `now`), send them and record the outcomes."""
        jobs, _next, pending = await self._claim(now or self.clock(), self.concurrency)
        await asyncio.gather(*(self._deliver(job) for job in jobs))
        if jobs:
            pending = await self.db.run(outbox.pending_count)
        return DrainResult(len(jobs), pending)

    async def run(self, stop_event: asyncio.Event, *, until_empty: bool = False) -> None:
        """Drain until `stop_event` is set (or, with `until_empty`, until no row is pending in
        any process). Requests in flight when it stops are finished and recorded."""
        tasks: set[asyncio.Task[None]] = set()
        refill = max(1, self.concurrency // 2)
        self._stopping = False
        try:
            while not stop_event.is_set():
                free = self.concurrency - len(tasks)
                timeout: float | None = None
                if free >= refill or not tasks:
                    self._wake.clear()
                    try:
                        jobs, next_due, pending = await self._claim(self.clock(), free)
                    except DatabaseUnavailable as exc:
                        log.warning("outbox: database unavailable, will retry: %s", exc)
                        jobs, next_due, pending = [], None, -1
                    for job in jobs:
                        tasks.add(asyncio.create_task(self._deliver(job)))
                    if len(jobs) == free:
                        continue  # there may be more due
                    if not jobs and not tasks and until_empty and pending == 0:
                        return
                    timeout = self.poll_seconds
                    if next_due is not None:
                        seconds = (next_due - self.clock()).total_seconds()
                        timeout = min(timeout, max(seconds, 0.02))
                waiters: set[asyncio.Future[Any]] = set(tasks)
                wake = asyncio.ensure_future(self._wake.wait())
                stop = asyncio.ensure_future(stop_event.wait())
                try:
                    done, _ = await asyncio.wait(
                        waiters | {wake, stop}, timeout=timeout, return_when="FIRST_COMPLETED"
                    )
                finally:
                    wake.cancel()
                    stop.cancel()
                tasks -= done
        finally:
            self._stopping = True
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self._stopping = False
            await self.aclose()

    def _http_session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.concurrency * 2, ttl_dns_cache=300)
            )
        return self._http

    async def aclose(self) -> None:
        """Close the HTTP connections (the clients make a new session if used again)."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    # -- claiming -----------------------------------------------------------------------------

    async def _claim(self, now: datetime, limit: int) -> tuple[list[_Job], datetime | None, int]:
        started = self.monotonic()
        held = frozenset(self._held)

        def work(
            session: Session,
        ) -> tuple[list[tuple[Claimed, str | None, str, int | None]], datetime | None, int]:
            rows = outbox.claim_due(
                session, owner=self.owner, now=now, limit=limit, lease_seconds=self.lease_seconds
            )
            # Skip a row still in flight here (cannot happen while leases hold).
            found = _where(session, [row for row in rows if row.id not in held])
            if rows:
                return found, None, -1
            return found, outbox.next_due(session, now), outbox.pending_count(session)

        found, next_due, pending = await self.db.run(work)
        deadline = started + self.lease_seconds
        jobs = [_Job(row, cid, url, deadline, person_id) for row, cid, url, person_id in found]
        self._held.update(job.row.id for job in jobs)
        return jobs, next_due, pending

    # -- delivering ---------------------------------------------------------------------------

    async def _deliver(self, job: _Job) -> None:
        row = job.row
        try:
            try:
                if job.conversation_id is None:
                    await self._create_chat(job)
                assert job.conversation_id is not None
                async with self._turn(job.conversation_id):
                    activity_id = await self._send(job)
                    # At once, alone: this commit closes the window for a duplicate.
                    await self._write(
                        lambda s: outbox.mark_sent(
                            s,
                            row_id=row.id,
                            owner=self.owner,
                            now=self.clock(),
                            activity_id=activity_id,
                        ),
                        row,
                    )
            except _Released:
                pass
            except (HttpOperationError, ClientException) as exc:
                await self._failed(job, classify(exc))
            except DatabaseUnavailable as exc:
                log.error(
                    "outbox row %s (%s): database unavailable; the row will be retried when its "
                    "lease ends: %s",
                    row.id,
                    row.dedupe_key,
                    exc,
                )
            except Exception as exc:  # a bug: record it rather than retry it forever
                log.exception("outbox row %s (%s) could not be sent", row.id, row.dedupe_key)
                await self._failed(job, Problem(None, "InternalError", repr(exc)[:300]), final=True)
        except Exception:
            log.exception("outbox row %s: recording the outcome failed", row.id)
        finally:
            self._held.discard(row.id)

    @contextlib.asynccontextmanager
    async def _turn(self, conversation_id: str) -> AsyncIterator[None]:
        """One message at a time per conversation, in the order they were claimed."""
        lock, users = self._turns.setdefault(conversation_id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._turns[conversation_id]

    def _claims(self) -> ClaimsIdentity:
        return ClaimsIdentity(
            {
                AuthenticationConstants.AUDIENCE_CLAIM: self.app_id,
                AuthenticationConstants.APP_ID_CLAIM: self.app_id,
            },
            True,
        )

    async def client(self, service_url: str) -> ConnectorClient:
        """This sender's ConnectorClient for a service URL: the SDK's, with its credentials, but
        with msrest's own retries off and our request timeout."""
        found = self._clients.get(service_url)
        if found is None:
            if self._factory is None:
                self._factory = self.auth.create_connector_factory(self._claims())
            found = await self._factory.create(service_url, None)
            # The adapter's transport (one aiohttp session, msrest's pipeline and signing kept):
            # it never retries on its own, so every retry is ours and counted, and it costs a
            # third of the CPU of msrest's requests-on-a-thread.
            found.config.connection.timeout = self.request_timeout
            use_fast_json_objects(found)
            use_aiohttp(found, self._http_session)
            self._clients[service_url] = found
        return found

    def _lease_left(self, job: _Job) -> float:
        """Seconds we may still wait before starting a request on this row's lease."""
        return job.lease_deadline - self.monotonic() - self.request_timeout - self.lease_margin

    async def _request(
        self,
        job: _Job,
        call: Callable[[ConnectorClient], Awaitable[T]],
        *,
        tenant: _Key,
        conversation: _Key | None = None,
    ) -> T:
        """One request to Teams within the limits, or `_Released` if it may not start now."""
        client = await self.client(job.service_url)
        budget = self._lease_left(job)
        if self._stopping or budget < 0:
            await self._release(job, 0.0)
        keys = [tenant] if conversation is None else [conversation, tenant]
        permit = await self.limiter.acquire(
            keys, max_wait=min(budget, self.max_limiter_wait), stopping=lambda: self._stopping
        )
        if not isinstance(permit, Permit):
            await self._release(job, permit)
        if self._stopping or self._lease_left(job) < 0:
            permit.finish()
            await self._release(job, 0.0)
        try:
            return await call(client)
        except HttpOperationError as exc:
            problem = classify(exc)
            if problem.status == 429:
                self.limiter.throttled(
                    conversation, tenant, problem.retry_after or self.backoff_base
                )
            raise
        finally:
            permit.finish()

    def _tenant_key(self, job: _Job) -> _Key:
        return self.limiter.key(f"tenant:{job.row.tenant_id}", self.limits.per_tenant)

    async def _create_chat(self, job: _Job) -> None:
        """POST /v3/conversations for the 1:1 chat, and remember it before sending."""
        target = job.row.target
        assert target.user_id
        assert target.tenant_id
        assert target.bot_id
        parameters = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=target.bot_id),
            members=[ChannelAccount(id=target.user_id)],
            tenant_id=target.tenant_id,
            channel_data={"tenant": {"id": target.tenant_id}},
        )
        tenant = self._tenant_key(job)
        created = await self._request(
            job, lambda c: c.conversations.create_conversation(parameters), tenant=tenant
        )
        job.conversation_id = str(created.id)
        job.service_url = created.service_url or job.service_url
        job.created = True
        reference = ConversationReference(
            bot=ChannelAccount(id=target.bot_id),
            user=ChannelAccount(id=target.user_id),
            conversation=ConversationAccount(
                id=job.conversation_id,
                conversation_type=PERSONAL,
                tenant_id=target.tenant_id,
                is_group=False,
            ),
            channel_id="msteams",
            service_url=job.service_url,
        )
        reference_json = json.dumps(reference.serialize(), sort_keys=True)
        conversation_id, service_url = job.conversation_id, job.service_url

        def remember(session: Session) -> None:
            remember_chat(
                session,
                person_id=job.person_id,
                conversation_id=conversation_id,
                tenant_id=target.tenant_id or "",
                service_url=service_url,
                reference_json=reference_json,
                now=self.clock(),
            )

        await self._write(remember, job.row)

    async def _send(self, job: _Job) -> str | None:
        assert job.conversation_id is not None
        activity = Activity().deserialize(job.row.activity)
        activity.conversation = ConversationAccount(
            id=job.conversation_id, tenant_id=job.row.target.tenant_id or None
        )
        if job.row.target.bot_id and activity.from_property is None:
            activity.from_property = ChannelAccount(id=job.row.target.bot_id)
        activity.service_url = job.service_url
        activity.channel_id = activity.channel_id or "msteams"
        tenant = self._tenant_key(job)
        conversation = self.limiter.key(
            f"conversation:{job.conversation_id}", self.limits.per_conversation
        )
        cid = job.conversation_id
        response = await self._request(
            job,
            lambda c: c.conversations.send_to_conversation(cid, activity),
            tenant=tenant,
            conversation=conversation,
        )
        return getattr(response, "id", None)

    # -- recording ----------------------------------------------------------------------------

    async def _write(self, work: Callable[[Session], T], row: Claimed) -> T:
        """Record promptly; ride out a short database outage (the lease still protects us)."""
        for delay in (0.1, 0.5, 2.0):
            try:
                return await self.db.run(work)
            except DatabaseUnavailable as exc:
                log.warning("outbox row %s: database unavailable, retrying: %s", row.id, exc)
                await asyncio.sleep(delay)
        return await self.db.run(work)

    async def _release(self, job: _Job, wait: float) -> NoReturn:
        not_before = self.clock() + timedelta(seconds=max(wait, 0.0))
        row_id = job.row.id
        await self._write(
            lambda s: outbox.release(s, row_id=row_id, owner=self.owner, not_before=not_before),
            job.row,
        )
        raise _Released

    def backoff(self, attempt: int) -> float:
        """Exponential back-off with full jitter: uniform(0, min(cap, base * 2**(attempt-1)))."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** max(attempt - 1, 0))
        return self._rng.uniform(0, ceiling)

    async def _failed(self, job: _Job, problem: Problem, *, final: bool = False) -> None:
        row = job.row
        attempt = row.attempts + 1
        where = f"outbox row {row.id} ({row.dedupe_key}, attempt {attempt})"
        if problem.transient and not final and attempt < self.max_attempts:
            delay = self.backoff(attempt)
            if problem.retry_after is not None:
                delay = max(delay, problem.retry_after)
            not_before = self.clock() + timedelta(seconds=delay)
            log.info("%s: %s %s, retrying in %.2fs", where, problem.status, problem.code, delay)
            await self._write(
                lambda s: outbox.mark_retry(
                    s,
                    row_id=row.id,
                    owner=self.owner,
                    not_before=not_before,
                    status=problem.status,
                    error=problem.describe(),
                ),
                row,
            )
            return
        if problem.code == "MessageSizeTooBig":
            log.error(
                "%s: Teams refused the message as too big (%s bytes as JSON): a bug in the card "
                "that was queued",
                where,
                len(json.dumps(row.activity)),
            )
        elif problem.transient:
            log.warning(
                "%s: giving up after %d attempts: %s %s",
                where,
                attempt,
                problem.status,
                problem.describe(),
            )
        else:
            log.warning("%s: not sent: %s %s", where, problem.status, problem.describe())
        drop = problem.code in DROP_REFERENCE_CODES and job.conversation_id is not None
        conversation_id = job.conversation_id

        def failed(session: Session) -> None:
            outbox.mark_failed(
                session,
                row_id=row.id,
                owner=self.owner,
                status=problem.status,
                error=problem.describe(),
            )
            if drop and conversation_id is not None:
                forget_conversation(session, conversation_id)

        await self._write(failed, row)


# -- stored conversations ---------------------------------------------------------------------


def _where(
    session: Session, rows: Sequence[Claimed]
) -> list[tuple[Claimed, str | None, str, int | None]]:
    """Where to send each row: the target's conversation, or the person's latest stored 1:1
    chat (None if there is none yet); its service URL; and the person's id if known. One query
    for the chats of all the rows' people."""
    people: dict[int, int | None] = {}  # row id -> person id
    for row in rows:
        target = row.target
        if not target.is_person:
            continue
        person_id = row.person_id
        if person_id is None:
            person_id = session.exec(
                select(Person.id).where(
                    Person.tenant_id == target.tenant_id, Person.teams_user_id == target.user_id
                )
            ).first()
        people[row.id] = person_id
    chats: dict[int, tuple[str, str]] = {}
    wanted = {person_id for person_id in people.values() if person_id is not None}
    if wanted:
        refs = session.exec(
            select(
                ConversationRef.person_id,
                ConversationRef.conversation_id,
                ConversationRef.service_url,
            )
            .where(col(ConversationRef.person_id).in_(wanted), ConversationRef.scope == PERSONAL)
            .order_by(col(ConversationRef.updated_at), col(ConversationRef.id))
        ).all()
        for person_id, conversation_id, service_url in refs:  # the latest wins
            if person_id is not None:
                chats[person_id] = (conversation_id, service_url)
    found: list[tuple[Claimed, str | None, str, int | None]] = []
    for row in rows:
        target = row.target
        if not target.is_person:
            found.append((row, target.conversation_id, target.service_url, row.person_id))
            continue
        person_id = people[row.id]
        chat = chats.get(person_id) if person_id is not None else None
        if chat is None:
            found.append((row, None, target.service_url, person_id))
        else:
            found.append((row, chat[0], chat[1], person_id))
    return found


def default_owner() -> str:
    """Unique per process run, readable in the outbox: host:pid:random."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
