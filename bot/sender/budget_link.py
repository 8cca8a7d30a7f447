"""One budget of Teams requests for the service and its sender process.

The outbox sender runs in a process of its own (bot.sender.process), so that its thousands of
requests do not share the service's GIL with the people it answers. Teams' limits are still one
budget per tenant and chat, and the service keeps it: its `RateLimiter` counts its turns'
replies, its roster and channel reads and its gate's notices, and the sender process asks it for
every request it makes, over a stream connection (a socket pair made when the service starts
the process):

    sender -> service   ["A", n, tenant, conversation | null, max_wait]   a permit, please
    service -> sender   ["P", n]  granted          ["W", n, seconds]  not within max_wait
    sender -> service   ["F", n]  request n has its answer (or error): the permit is finished
    sender -> service   ["C", n]  no longer wanted (the sender is stopping)
    sender -> service   ["T", tenant, conversation | null, retry_after]   Teams answered 429
    sender -> service   ["M", seconds, status | null, code]   one request, for the metrics
    sender -> service   ["E", logger]  the sender logged an ERROR line (impact_errors_total)
    service -> sender   ["H", limits]  on connecting      ["K"]  something was queued: wake

one JSON array a line. The service grants a permit exactly as it would to its own sender (after
the turns in flight, `give_way`), so nothing about the budget changes but where the sends run.
A connection that ends (the sender process exits or dies) gives back every permit it held.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.observability.metrics import count_error_line, observe_teams_request
from bot.sender.limits import LimitKey, Permit, RateLimiter, RateLimits

log = logging.getLogger(__name__)

GiveWay = Callable[[], Awaitable[None]]
HELLO_SECONDS = 10.0  # the service answers at once; past this it is not there


async def _no_turns() -> None:
    return None


def _send(writer: asyncio.StreamWriter, message: Sequence[Any]) -> None:
    """Write one JSON line, unless this end is closing (then there is nobody to tell)."""
    if not writer.is_closing():
        writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")


# -- the service's side -------------------------------------------------------------------------


@dataclass(eq=False)  # one per connection, kept in a set: hashed by identity
class _Connection:
    writer: asyncio.StreamWriter
    permits: dict[int, Permit] = field(default_factory=dict)
    waiting: dict[int, asyncio.Task[None]] = field(default_factory=dict)

    def send(self, message: Sequence[Any]) -> None:
        _send(self.writer, message)


class BudgetServer:
    """Serves the service's one `limiter` to its sender processes (see the module docstring)."""

    def __init__(self, limiter: RateLimiter, *, give_way: GiveWay = _no_turns) -> None:
        self.limiter = limiter
        self._give_way = give_way
        self._connections: set[_Connection] = set()

    @property
    def connected(self) -> int:
        return len(self._connections)

    def wake(self) -> None:
        """Something was queued: tell every connected sender process (on the event loop)."""
        for connection in self._connections:
            connection.send(["K"])

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one sender process until its connection ends; then give back what it held."""
        connection = _Connection(writer)
        self._connections.add(connection)
        connection.send(["H", _limits_json(self.limiter.limits)])
        try:
            while line := await reader.readline():
                try:
                    self._handle(connection, json.loads(line))
                except (ValueError, TypeError, IndexError, KeyError) as exc:
                    log.error("budget link: a message the service cannot read: %r (%s)", line, exc)
        except (ConnectionError, OSError) as exc:
            log.warning("budget link: the sender process's connection failed: %s", exc)
        finally:
            self._connections.discard(connection)
            await self._release(connection)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _handle(self, connection: _Connection, message: list[Any]) -> None:
        handler = self._handlers.get(message[0])
        if handler is None:
            raise ValueError(f"unknown kind {message[0]!r}")
        handler(connection, *message[1:])

    @property
    def _handlers(self) -> dict[str, Callable[..., None]]:
        return {
            "A": self._acquire,
            "F": self._finish,
            "C": self._cancel,
            "T": self._throttled,
            "M": self._observe,
            "E": self._error_line,
        }

    def _acquire(
        self, connection: _Connection, number: int, tenant: str, conversation: str | None,
        max_wait: float,
    ) -> None:  # fmt: skip
        keys = self._keys(str(tenant), conversation)
        grant = self._grant(connection, int(number), keys, float(max_wait))
        connection.waiting[int(number)] = asyncio.create_task(grant)

    def _finish(self, connection: _Connection, number: int) -> None:
        permit = connection.permits.pop(int(number), None)
        if permit is not None:
            permit.finish()

    def _cancel(self, connection: _Connection, number: int) -> None:
        waiting = connection.waiting.pop(int(number), None)
        if waiting is not None:
            waiting.cancel()
        self._finish(connection, number)

    def _throttled(
        self, _connection: _Connection, tenant: str, conversation: str | None, retry_after: float
    ) -> None:
        keys = self._keys(str(tenant), conversation)
        self.limiter.throttled(keys[0] if conversation else None, keys[-1], float(retry_after))

    def _observe(
        self, _connection: _Connection, seconds: float, status: int | None, code: str
    ) -> None:
        observe_teams_request(float(seconds), None if status is None else int(status), str(code))

    def _error_line(self, _connection: _Connection, logger: str) -> None:
        count_error_line(str(logger))

    def _keys(self, tenant: str, conversation: object) -> list[LimitKey]:
        keys = [] if not conversation else [self.limiter.conversation(str(conversation))]
        return [*keys, self.limiter.tenant(tenant)]

    async def _grant(
        self, connection: _Connection, number: int, keys: list[LimitKey], max_wait: float
    ) -> None:
        try:
            await self._give_way()
            found = await self.limiter.acquire(keys, max_wait=max_wait)
        finally:
            connection.waiting.pop(number, None)
        if isinstance(found, Permit):
            if connection not in self._connections:
                found.finish()  # the sender process has gone meanwhile
                return
            connection.permits[number] = found
            connection.send(["P", number])
        else:
            connection.send(["W", number, found])

    async def _release(self, connection: _Connection) -> None:
        for task in connection.waiting.values():
            task.cancel()
        for task in list(connection.waiting.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for permit in connection.permits.values():
            permit.finish()
        connection.permits.clear()


def _limits_json(limits: RateLimits) -> dict[str, list[list[float]]]:
    return {
        "per_conversation": [[n, w] for n, w in limits.per_conversation],
        "per_tenant": [[n, w] for n, w in limits.per_tenant],
    }


def _limits_from_json(data: dict[str, list[list[float]]]) -> RateLimits:
    return RateLimits(
        per_conversation=tuple((int(n), float(w)) for n, w in data["per_conversation"]),
        per_tenant=tuple((int(n), float(w)) for n, w in data["per_tenant"]),
    )


# -- the sender process's side ------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteKey:
    """A tenant's or a chat's windows, kept by the service."""

    kind: str  # "tenant" or "conversation"
    name: str


class RemotePermit:
    """Leave for one request, granted by the service; `finish()` when its answer is in."""

    def __init__(self, budget: RemoteBudget, number: int) -> None:
        self._budget = budget
        self._number = number
        self._finished = False

    def finish(self) -> None:
        if not self._finished:
            self._finished = True
            self._budget._send(["F", self._number])


class RemoteBudget:
    """The service's budget, as the outbox sender in a process of its own sees it: the same
    calls as `RateLimiter` (`tenant`, `conversation`, `acquire`, `throttled`), each a message
    to the service. `closed` is set when the service has gone (the connection ended): the sender
    process then stops."""

    CHECK_STOPPING_SECONDS = 0.25

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.limits = RateLimits()
        self.closed = asyncio.Event()
        self.on_wake: Callable[[], None] = lambda: None
        self._numbers = 0
        self._answers: dict[int, asyncio.Future[float | None]] = {}
        self._ready = asyncio.Event()
        self._reading: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()

    @classmethod
    async def open(cls, fd: int) -> RemoteBudget:
        """The budget over the connection the service handed this process as `fd`, once the
        service has said hello (its limits)."""
        return await cls.over(socket.socket(fileno=fd))

    @classmethod
    async def over(cls, sock: socket.socket) -> RemoteBudget:
        """The budget over a connected socket, once the service has said hello."""
        reader, writer = await asyncio.open_connection(sock=sock)
        budget = cls(reader, writer)
        budget._reading = asyncio.create_task(budget._read(), name="budget link")
        try:
            await asyncio.wait_for(budget._ready.wait(), HELLO_SECONDS)
        except TimeoutError:
            await budget.aclose()
            raise ConnectionError(
                f"the service did not say hello within {HELLO_SECONDS} s"
            ) from None
        return budget

    def tenant(self, tenant_id: str) -> RemoteKey:
        return RemoteKey("tenant", tenant_id)

    def conversation(self, conversation_id: str) -> RemoteKey:
        return RemoteKey("conversation", conversation_id)

    async def acquire(
        self,
        keys: Sequence[RemoteKey],
        *,
        max_wait: float,
        stopping: Callable[[], bool] = lambda: False,
    ) -> RemotePermit | float:
        """A permit from the service, or the wait it estimates (as `RateLimiter.acquire`)."""
        if self.closed.is_set() or stopping():
            return 0.0
        tenant = next(k.name for k in keys if k.kind == "tenant")
        conversation = next((k.name for k in keys if k.kind == "conversation"), None)
        self._numbers += 1
        number = self._numbers
        answer: asyncio.Future[float | None] = asyncio.get_running_loop().create_future()
        self._answers[number] = answer
        self._send(["A", number, tenant, conversation, max_wait])
        try:
            while True:
                done, _ = await asyncio.wait([answer], timeout=self.CHECK_STOPPING_SECONDS)
                if done:
                    break
                if stopping() or self.closed.is_set():
                    self._send(["C", number])
                    return 0.0
        finally:
            self._answers.pop(number, None)
        wait = answer.result()
        return RemotePermit(self, number) if wait is None else wait

    def throttled(
        self, conversation: RemoteKey | None, tenant: RemoteKey, retry_after: float
    ) -> None:
        self._send(["T", tenant.name, conversation.name if conversation else None, retry_after])

    def observe(self, seconds: float, status: int | None = None, code: str = "") -> None:
        """One request's time and outcome, for the service's metrics."""
        self._send(["M", seconds, status, code])

    def error_line(self, logger: str) -> None:
        """The sender logged an ERROR line: counted on the service's metrics. From any thread."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody to tell
            self._loop.call_soon_threadsafe(self._send, ["E", logger])

    async def aclose(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading

    def _send(self, message: Sequence[Any]) -> None:
        _send(self._writer, message)

    async def _read(self) -> None:
        try:
            while line := await self._reader.readline():
                try:
                    self._receive(json.loads(line))
                except (ValueError, TypeError, IndexError, KeyError) as exc:
                    log.error("budget link: a line the sender cannot read: %r (%s)", line, exc)
        except (ConnectionError, OSError) as exc:
            log.warning("budget link: the connection to the service failed: %s", exc)
        finally:
            self.closed.set()
            self._ready.set()
            for answer in self._answers.values():
                if not answer.done():
                    answer.set_result(0.0)

    def _receive(self, message: list[Any]) -> None:
        kind = message[0]
        if kind == "P" or kind == "W":
            number = int(message[1])
            answer = self._answers.get(number)
            wait = None if kind == "P" else float(message[2])
            if answer is not None and not answer.done():
                answer.set_result(wait)
            elif kind == "P":
                self._send(["F", number])  # granted after we stopped waiting: give it back
        elif kind == "K":
            self.on_wake()
        elif kind == "H":
            self.limits = _limits_from_json(message[1])
            self._ready.set()
        else:
            log.error("budget link: a message the sender cannot read: %r", message)


class ErrorLinesToService(logging.Handler):
    """In the sender process: every ERROR (or worse) line counted on the service's metrics, as
    the service's own are (bot.observability.metrics.ErrorCounter), so that an alert on
    `impact_errors_total` sees the sender's errors too."""

    def __init__(self, budget: RemoteBudget) -> None:
        super().__init__(level=logging.ERROR)
        self._budget = budget

    def emit(self, record: logging.LogRecord) -> None:
        self._budget.error_line(record.name)
