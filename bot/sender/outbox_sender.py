"""The outbox sender: the one place proactive messages leave for Teams.

It claims due outbox rows under a lease, sends each through the SDK's ConnectorClient within
Teams' rate limits (limits.py), retries what Teams says is transient (answers.py), and records
every outcome. What is sent exactly once, and the one window that remains, are explained in
docs/outbox.md.
"""

# Over 500 lines, on purpose: what is left is one class whose claim, deliver and record steps
# share the lease, the held rows and the per-conversation turns; the ConnectorClients are in
# bot/sender/clients.py, the limits, answers and conversations in their own modules.

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    BotFrameworkAuthentication,
)
from msrest.exceptions import ClientException, HttpOperationError
from sqlmodel import Session

from bot.adapter import (
    TOKEN_TIMEOUT_SECONDS,
)
from bot.config import Settings
from bot.observability.metrics import observe_teams_request
from bot.sender.answers import DROP_REFERENCE_CODES, Problem, classify
from bot.sender.clients import ConnectorClients
from bot.sender.conversations import chat_reference_json, outgoing, personal_chat
from bot.sender.limits import Budget, RateLimiter, RateLimits, Sleep
from bot.turns import TurnsInFlight
from store import outbox, outbox_outcomes
from store.db import Database, DatabaseUnavailable, deadline
from store.group_commit import GroupCommit
from store.outbox import Claimed
from store.outbox_destinations import destinations
from store.people import forget_conversation, remember_chat
from store.types import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")


# -- the sender -------------------------------------------------------------------------------

DEFAULT_RETRY_HOURS = 24.0
RECORD_BACKOFF_CAP_SECONDS = 5.0
DATABASE_SECONDS = 10.0  # the sender's units of work are small: a silent database is given up


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

    `limiter` is the process's budget of Teams requests (`RateLimiter`), which the service's
    roster and channel reads share (impact.service.create_app); without one the sender makes its
    own, with `limits`, which is right only when nothing else in the process calls Teams. In a
    process of its own (`impact-bot outbox send --budget-fd`, started by the service) it is the
    service's budget over a connection (bot.sender.budget_link.RemoteBudget), and `observe`
    sends each request's metrics there too.
    """

    def __init__(
        self,
        db: Database,
        auth: BotFrameworkAuthentication,
        *,
        app_id: str = "",
        limits: RateLimits | None = None,
        limiter: Budget | None = None,
        retry_hours: float = DEFAULT_RETRY_HOURS,
        max_attempts: int | None = None,
        backoff_base_seconds: float = 1.0,
        backoff_cap_seconds: float = 120.0,
        concurrency: int = 16,
        lease_seconds: float = 60.0,
        lease_margin_seconds: float = 2.0,
        request_timeout_seconds: float = 15.0,
        token_timeout_seconds: float = TOKEN_TIMEOUT_SECONDS,
        max_limiter_wait_seconds: float = 10.0,
        poll_seconds: float = 1.0,
        owner: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        turns: TurnsInFlight | None = None,
        observe: Callable[..., None] = observe_teams_request,
    ) -> None:
        if lease_seconds <= request_timeout_seconds + lease_margin_seconds:
            raise ValueError("lease_seconds must exceed request_timeout + lease_margin")
        self.db = db
        # Outcomes and new chats: those that arrive while one is written go together in the next
        # transaction (store.group_commit), never waiting for a group to fill. On SQLite at most
        # 16 a group: a group of 64 held the write lock 65 ms in the trust benchmark (the
        # sender's loop busy with its requests, each unit waits for the GIL back), and every
        # answer's write waits for it (store.lock_holds).
        self.writes = GroupCommit(db, seconds=DATABASE_SECONDS, most=16 if db.is_sqlite else 64)
        self.auth = auth
        self.app_id = app_id
        if limiter is None:
            limiter = RateLimiter(limits, clock=monotonic, sleep=sleep)
        elif limits is not None and limits != limiter.limits:
            raise ValueError(f"the limiter keeps {limiter.limits}, not {limits}")
        self.limiter: Budget = limiter
        self._observe = observe  # the service's metrics, or (in a process of its own) a message
        self.retry_budget = timedelta(hours=retry_hours)
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base_seconds
        self.backoff_cap = backoff_cap_seconds
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.lease_margin = lease_margin_seconds
        self.request_timeout = request_timeout_seconds
        self.token_timeout = token_timeout_seconds
        self.max_limiter_wait = max_limiter_wait_seconds
        self.poll_seconds = poll_seconds
        self.owner = owner or default_owner()
        self.clock = clock
        self.monotonic = monotonic
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.turns = turns  # the service's turns in flight: new claims and requests wait
        self._clients = ConnectorClients(
            auth,
            app_id,
            request_timeout=request_timeout_seconds,
            token_timeout=token_timeout_seconds,
            pool_size=concurrency * 2,
        )
        self._wake = asyncio.Event()
        self._stopping = False
        self._held: set[int] = set()
        self._turns: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, db: Database, *, scale: float = 1.0, share: float = 1.0, **kw: Any
    ) -> OutboxSender:
        """The sender as configured. `scale` speeds Teams' limits up for benchmarks (counts
        times `scale`, back-off divided by it); `share` is this process's part of the limits.
        A `limiter` given (the process's, shared with its Teams reads) must keep these limits."""
        from bot.adapter import sdk_authentication

        limits = RateLimits.from_settings(settings).scaled(scale).shared(share)
        kw.setdefault("retry_hours", settings.send_retry_hours)
        kw.setdefault("backoff_base_seconds", 1.0 / scale)
        kw.setdefault("backoff_cap_seconds", settings.send_backoff_cap_seconds / scale)
        return cls(db, sdk_authentication(settings), app_id=settings.app_id, limits=limits, **kw)

    @property
    def limits(self) -> RateLimits:
        return self.limiter.limits

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
                    await self._give_way()
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

    async def aclose(self) -> None:
        """Close the HTTP connections (the clients make a new session if used again)."""
        await self._clients.aclose()

    # -- claiming -----------------------------------------------------------------------------

    async def _claim(self, now: datetime, limit: int) -> tuple[list[_Job], datetime | None, int]:
        started = self.monotonic()
        held = frozenset(self._held)

        def work(
            session: Session,
        ) -> tuple[list[tuple[Claimed, str | None, str, int | None]], datetime | None, int]:
            # A row still in flight here is not claimed: its outcome (pending again, its lease
            # cleared: a retry due now) is committed before its task lets it go, and leasing it
            # meanwhile would hold it, unsent, for a whole lease.
            rows = outbox.claim_due(
                session,
                owner=self.owner,
                now=now,
                limit=limit,
                lease_seconds=self.lease_seconds,
                skip=held,
            )
            found = destinations(session, rows)
            if rows:
                return found, None, -1
            return found, outbox.next_due(session, now), outbox.pending_count(session)

        with deadline(DATABASE_SECONDS):
            found, next_due, pending = await self.db.run(work)
        lease_ends = started + self.lease_seconds
        jobs = [_Job(row, cid, url, lease_ends, person_id) for row, cid, url, person_id in found]
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
                    await self._record(
                        lambda s: outbox_outcomes.mark_sent(
                            s,
                            row_id=row.id,
                            owner=self.owner,
                            now=self.clock(),
                            activity_id=activity_id,
                        ),
                        row,
                        "its delivery",
                    )
            except _Released:
                pass
            except (HttpOperationError, ClientException) as exc:
                # Teams' answer, or no answer at all (a timeout; no token: TokenUnavailable).
                await self._failed(job, classify(exc))
            except DatabaseUnavailable as exc:
                log.error(
                    "outbox row %s (%s): database unavailable; the row will be retried when its "
                    "lease ends: %s",
                    row.id,
                    row.dedupe_key,
                    exc,
                )
            except Exception as exc:  # not Teams' answer: transient, within the retry budget
                log.warning(
                    "outbox row %s (%s) could not be sent; will retry",
                    row.id,
                    row.dedupe_key,
                    exc_info=True,
                )
                await self._failed(job, Problem(None, type(exc).__name__, repr(exc)[:300]))
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

    async def _give_way(self) -> None:
        """Start nothing new while the service answers a person (at most a few tens of ms)."""
        if self.turns is not None:
            await self.turns.give_way()

    async def client(self, service_url: str) -> ConnectorClient:
        """This sender's ConnectorClient for a service URL (see `ConnectorClients`)."""
        return await self._clients.get(service_url)

    def _lease_left(self, job: _Job) -> float:
        """Seconds we may still wait before starting a request on this row's lease."""
        return job.lease_deadline - self.monotonic() - self.request_timeout - self.lease_margin

    async def _request(
        self,
        job: _Job,
        call: Callable[[ConnectorClient], Awaitable[T]],
        *,
        tenant: Any,
        conversation: Any = None,
    ) -> T:
        """One request to Teams within the limits, or `_Released` if it may not start now."""
        client = await self.client(job.service_url)
        budget = self._lease_left(job)
        if self._stopping or budget < 0:
            await self._release(job, 0.0)
        keys = [tenant] if conversation is None else [conversation, tenant]
        await self._give_way()
        permit = await self.limiter.acquire(
            keys, max_wait=min(budget, self.max_limiter_wait), stopping=lambda: self._stopping
        )
        if isinstance(permit, float | int):
            await self._release(job, permit)
        if self._stopping or self._lease_left(job) < 0:
            permit.finish()
            await self._release(job, 0.0)
        started = time.perf_counter()
        try:
            answer = await call(client)
        except HttpOperationError as exc:
            problem = classify(exc)
            self._observe(time.perf_counter() - started, problem.status, problem.code)
            if problem.status == 429:
                self.limiter.throttled(
                    conversation, tenant, problem.retry_after or self.backoff_base
                )
            raise
        except Exception:  # no answer: timeout, connection refused or reset
            self._observe(time.perf_counter() - started, None, "NoResponse")
            raise
        else:
            self._observe(time.perf_counter() - started)
            return answer
        finally:
            permit.finish()

    def _tenant_key(self, job: _Job) -> Any:
        return self.limiter.tenant(job.row.tenant_id)

    async def _create_chat(self, job: _Job) -> None:
        """POST /v3/conversations for the 1:1 chat, and remember it before sending."""
        target = job.row.target
        parameters = personal_chat(target)
        tenant = self._tenant_key(job)
        created = await self._request(
            job, lambda c: c.conversations.create_conversation(parameters), tenant=tenant
        )
        job.conversation_id = str(created.id)
        job.service_url = created.service_url or job.service_url
        job.created = True
        conversation_id, service_url = job.conversation_id, job.service_url
        reference_json = chat_reference_json(target, conversation_id, service_url)

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
        cid = job.conversation_id
        activity = outgoing(job.row.activity, job.row.target, cid, job.service_url)
        tenant = self._tenant_key(job)
        conversation = self.limiter.conversation(cid)
        response = await self._request(
            job,
            lambda c: c.conversations.send_to_conversation(cid, activity),
            tenant=tenant,
            conversation=conversation,
        )
        return getattr(response, "id", None)

    # -- recording ----------------------------------------------------------------------------

    async def _write(self, work: Callable[[Session], T], row: Claimed) -> T:
        """Record promptly; ride out a database outage, however long, retrying with back-off
        (the lease still protects the row: a process that took it over makes our
        compare-and-set find nothing, which `_record` logs as a lost lease)."""
        delay = 0.1
        warned = False
        while True:
            try:
                return await self.writes.run(work)
            except DatabaseUnavailable as exc:
                log.log(
                    logging.DEBUG if warned else logging.WARNING,
                    "outbox row %s: database unavailable, retrying the write: %s",
                    row.id,
                    exc,
                )
                warned = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECORD_BACKOFF_CAP_SECONDS)

    async def _record(self, work: Callable[[Session], bool], row: Claimed, what: str) -> bool:
        """An outcome (compare-and-set on our lease), written or found lost. A row cancelled
        meanwhile (a closing round cancels its pending nudges, those being sent included: the
        close's "no more nudges" must not wait for Teams) is not a lost lease: nothing more is
        to be done with it, and a close with two processes sending found a hundred such rows,
        each a WARNING line that said another process would decide them."""
        written = await self._write(work, row)
        if written:
            return True
        if await self._cancelled(row):
            log.info(
                "outbox row %s (%s): cancelled while it was being sent (its round closed); "
                "%s is not recorded",
                row.id,
                row.dedupe_key,
                what,
            )
            return False
        log.warning(
            "outbox row %s (%s): lease lost before %s was recorded; the process that holds "
            "the row now decides its outcome",
            row.id,
            row.dedupe_key,
            what,
        )
        return False

    async def _cancelled(self, row: Claimed) -> bool:
        """Whether the row is cancelled now (False if that cannot be read just now)."""
        try:
            status = await self.db.read(functools.partial(outbox_outcomes.status_of, row_id=row.id))
        except DatabaseUnavailable:
            return False
        return status == outbox.CANCELLED

    async def _release(self, job: _Job, wait: float) -> NoReturn:
        not_before = self.clock() + timedelta(seconds=max(wait, 0.0))
        row_id = job.row.id
        await self._record(
            lambda s: outbox_outcomes.release(
                s, row_id=row_id, owner=self.owner, not_before=not_before
            ),
            job.row,
            "its release",
        )
        raise _Released

    def backoff(self, attempt: int) -> float:
        """Exponential back-off with full jitter: uniform(0, min(cap, base * 2**(attempt-1)))."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** max(attempt - 1, 0))
        return self._rng.uniform(0, ceiling)

    def retry_until(self, row: Claimed) -> datetime:
        """The end of a row's retry budget: its round's closing time for a round's message
        (a summary, sent after the close, still gets `retry_budget`), else `retry_budget`
        after it was queued."""
        queued = row.created_at or self.clock()
        budget = queued + self.retry_budget
        if row.round_closes_at is not None:
            return max(budget, row.round_closes_at)
        return budget

    async def _failed(self, job: _Job, problem: Problem) -> None:
        row = job.row
        attempt = row.attempts + 1
        where = f"outbox row {row.id} ({row.dedupe_key}, attempt {attempt})"
        within = self.clock() < self.retry_until(row) and (
            self.max_attempts is None or attempt < self.max_attempts
        )
        if problem.transient and within:
            delay = self.backoff(attempt)
            if problem.retry_after is not None:
                delay = max(delay, problem.retry_after)
            not_before = min(self.clock() + timedelta(seconds=delay), self.retry_until(row))
            log.info("%s: %s %s, retrying in %.2fs", where, problem.status, problem.code, delay)
            await self._record(
                lambda s: outbox_outcomes.mark_retry(
                    s,
                    row_id=row.id,
                    owner=self.owner,
                    not_before=not_before,
                    status=problem.status,
                    error=problem.describe(),
                ),
                row,
                "a retry",
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
                "%s: giving up after %d attempts (retry budget until %s spent): %s %s",
                where,
                attempt,
                self.retry_until(row).isoformat(timespec="seconds"),
                problem.status,
                problem.describe(),
            )
        else:
            log.warning("%s: not sent: %s %s", where, problem.status, problem.describe())
        drop = problem.code in DROP_REFERENCE_CODES and job.conversation_id is not None
        conversation_id = job.conversation_id

        def failed(session: Session) -> bool:
            written = outbox_outcomes.mark_failed(
                session,
                row_id=row.id,
                owner=self.owner,
                status=problem.status,
                error=problem.describe(),
            )
            if written and drop and conversation_id is not None:
                forget_conversation(session, conversation_id)
            return written

        await self._record(failed, row, "its failure")


# -- stored conversations ---------------------------------------------------------------------


def default_owner() -> str:
    """Unique per process run, readable in the outbox: host:pid:random."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
