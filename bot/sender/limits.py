"""Teams' rate limits, kept on our side: sliding windows per conversation (7/1 s, 8/2 s,
60/30 s, 1,800/h) and per tenant (50 requests/s, every request, creating a conversation too)
(learn.microsoft.com/microsoftteams/platform/bots/how-to/rate-limit). See docs/outbox.md."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import struct
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.config import Settings

log = logging.getLogger(__name__)

Window = tuple[int, float]  # at most this many requests in any this many seconds
Sleep = Callable[[float], Awaitable[None]]


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


_TIME = struct.Struct("d")  # one time, in a key's bytes


class LimitKey:
    """One key's windows and what has been counted in them.

    Completion and 429 times are kept as packed floats in bytearrays, which the cyclic garbage
    collector does not track. The budget keeps a conversation's key for its longest window (an
    hour), so a trust's round holds one per person's chat, 15,000 of them. As two deques each
    they took 24 MB, and the collections that met them walked 45,000 more containers (the
    service's longest young-generation collection in a trust run: 28-37 ms before, 16-31 ms
    since; benchmarks/trust_scale.py, 30 November)."""

    __slots__ = (
        "_done", "_throttles", "in_flight", "keep", "last_used", "longest", "name",
        "paused_until", "windows",
    )  # fmt: skip

    THROTTLES_KEPT = 64

    def __init__(self, windows: tuple[Window, ...], name: str = "") -> None:
        self.name = name  # its name in its limiter ("" for a key of no limiter)
        self.windows = windows
        self.longest = max(w for _, w in windows)  # seconds: its longest window
        self.keep = max(n for n, _ in windows)  # only the latest `keep` completions can matter
        self._done = bytearray()  # completion times, oldest first
        self.in_flight = 0
        self.paused_until = 0.0
        self._throttles = bytearray()  # 429s' times, oldest first
        self.last_used = 0.0

    @property
    def completions(self) -> int:
        """How many completion times are kept (at least the latest `keep`, when there were)."""
        return len(self._done) // _TIME.size

    def nth_latest_completion(self, n: int) -> float:
        """The `n`-th latest completion time (1: the latest); 1 <= n <= completions."""
        return float(_TIME.unpack_from(self._done, len(self._done) - n * _TIME.size)[0])

    @property
    def done(self) -> tuple[float, ...]:
        """The completion times kept, oldest first."""
        return tuple(t for (t,) in _TIME.iter_unpack(self._done))

    def completed(self, at: float) -> None:
        _append_keeping(self._done, at, self.keep)

    def throttled_at(self, at: float) -> None:
        _append_keeping(self._throttles, at, self.THROTTLES_KEPT)

    def throttles_since(self, since: float) -> int:
        return sum(1 for (at,) in _TIME.iter_unpack(self._throttles) if at > since)


def _append_keeping(times: bytearray, at: float, keep: int) -> None:
    """Append `at`, keeping at least the latest `keep` times (the older ones are dropped once
    there are twice as many, so that a busy key does not move its bytes at every append)."""
    times += _TIME.pack(at)
    if len(times) >= 2 * keep * _TIME.size:
        del times[: -keep * _TIME.size]


class Permit:
    """Leave to make one request; `finish()` when its response (or error) is in."""

    def __init__(self, limiter: RateLimiter, keys: Sequence[LimitKey]) -> None:
        self._limiter = limiter
        self._keys = keys
        self._finished = False

    def finish(self) -> None:
        if not self._finished:
            self._finished = True
            self._limiter._finish(self._keys)


class PermitLike(Protocol):
    def finish(self) -> None: ...


class Budget(Protocol):
    """What the outbox sender needs of a budget: the process's own `RateLimiter`, or the
    service's over a connection (bot.sender.budget_link.RemoteBudget) when the sender runs in a
    process of its own. Keys are whatever `tenant` and `conversation` return."""

    @property
    def limits(self) -> RateLimits: ...

    def tenant(self, tenant_id: str) -> Any: ...

    def conversation(self, conversation_id: str) -> Any: ...

    async def acquire(
        self, keys: Sequence[Any], *, max_wait: float, stopping: Callable[[], bool] = ...
    ) -> PermitLike | float: ...

    def throttled(self, conversation: Any, tenant: Any, retry_after: float) -> None: ...


class RateLimiter:
    """Sliding windows per key (`conversation:<id>`, `tenant:<id>`), counting a request from
    its start (as in flight) and then at its completion, so that wherever in between Teams
    counts it, no window sees more than its limit. `clock` is monotonic seconds and `sleep`
    waits on it (both injectable, so tests run in virtual time).

    One limiter is one budget: it keeps its `limits` (this process's share of Teams'), and
    everything in the process that makes requests to Teams (the outbox sender, the roster and
    channel reads, the turns' replies) counts them in the same one (`impact.service.create_app`
    makes it). The turns' replies take their room at once (`take`), ahead of the rest. A key
    asked for again with other windows is refused: two budgets for one tenant or conversation
    would each let through what the other had already used."""

    # Keys unused for longer than their longest window are forgotten, least recently used first,
    # a bounded number at a time: a trust's round leaves 15,000 chat keys, and looking at all of
    # them every 4,096 requests stopped the event loop for 20-33 ms each time (trust_scale.py
    # --loop-stacks, 30 November).
    PRUNE_EVERY = 256  # requests between looks
    PRUNE_AT_MOST = 512  # keys looked at, at most, each time

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        margin: float = 0.001,
        quantum: float = 0.25,
    ) -> None:
        self.limits = limits or RateLimits()
        self._clock = clock
        self._sleep = sleep
        self._margin = margin  # added to every window: float rounding, clock granularity
        self._quantum = quantum  # longest single sleep, so a stopping sender is not held up
        self._keys: OrderedDict[str, LimitKey] = OrderedDict()  # least recently used first
        self._finished = asyncio.Event()
        self._acquired = 0

    def tenant(self, tenant_id: str) -> LimitKey:
        """The tenant's window: every request to Teams for this tenant counts in it."""
        return self.key(f"tenant:{tenant_id}", self.limits.per_tenant)

    def conversation(self, conversation_id: str) -> LimitKey:
        """The conversation's windows (sends, replies, updates and roster pages)."""
        return self.key(f"conversation:{conversation_id}", self.limits.per_conversation)

    def key(self, name: str, windows: tuple[Window, ...]) -> LimitKey:
        """The key `name`, counted in `windows`; ValueError if it is already counted in
        others (a second budget would not see what the first has used)."""
        found = self._keys.get(name)
        if found is None:
            found = self._keys[name] = LimitKey(windows, name)
        elif found.windows != windows:
            raise ValueError(
                f"{name} is already limited to {found.windows}, not {windows}: one budget per "
                "tenant and conversation"
            )
        return found

    def delay(self, key: LimitKey, now: float) -> float:
        """Seconds until `key` has room for one more request (inf: wait for one to finish)."""
        wait = key.paused_until - now
        for count, seconds in key.windows:
            room = count - key.in_flight
            if room <= 0:
                return math.inf
            if key.completions >= room:
                # the room-th latest completion must have left the window
                leaves = key.nth_latest_completion(room) + seconds + self._margin
                wait = max(wait, leaves - now)
        return wait

    async def acquire(
        self,
        keys: Sequence[LimitKey],
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
                return self._permit(keys, now)
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

    def take(self, keys: Sequence[LimitKey]) -> Permit:
        """A permit now, whatever the windows hold: a request a person is waiting for (a turn's
        reply, bot.turn_requests), which goes ahead of every request waiting in `acquire` and is
        never delayed by this budget, only counted in it, so that the others leave it room."""
        return self._permit(keys, self._clock())

    def _permit(self, keys: Sequence[LimitKey], now: float) -> Permit:
        for key in keys:
            key.in_flight += 1
            key.last_used = now
            if self._keys.get(key.name) is key:
                self._keys.move_to_end(key.name)
        self._acquired += 1
        if self._acquired % self.PRUNE_EVERY == 0:
            self._prune(now)
        return Permit(self, keys)

    def _finish(self, keys: Sequence[LimitKey]) -> None:
        now = self._clock()
        for key in keys:
            key.in_flight -= 1
            key.completed(now)
        finished, self._finished = self._finished, asyncio.Event()
        finished.set()

    def throttled(
        self, conversation: LimitKey | None, tenant: LimitKey, retry_after: float
    ) -> None:
        """Teams answered 429. Nothing more to that conversation until Retry-After; and if the
        tenant gets a burst of them (a fifth of its per-second limit within a second), nothing
        more to the tenant either. A single 429 while our own count is within the documented
        limits is more likely a per-conversation or passing throttle than the tenant's."""
        now = self._clock()
        until = now + retry_after
        if conversation is not None:
            conversation.paused_until = max(conversation.paused_until, until)
        tenant.throttled_at(now)
        per_second = min((n for n, w in tenant.windows if w <= 1.0), default=tenant.windows[0][0])
        burst = max(2, math.ceil(per_second / 5))
        recent = tenant.throttles_since(now - 1.0)
        if recent >= burst:
            tenant.paused_until = max(tenant.paused_until, until)
            log.warning("Teams is throttling this tenant (%d 429s within 1 s): pausing", recent)

    def _prune(self, now: float) -> None:
        """Forget the least recently used keys that nothing can need any more (none of their
        windows holds a request, none in flight or paused), up to `PRUNE_AT_MOST` of them,
        stopping at the first still needed: the rest were used after it."""
        forgotten = []
        for name, key in itertools.islice(self._keys.items(), self.PRUNE_AT_MOST):
            idle = key.in_flight == 0 and key.paused_until <= now
            unused = key.last_used < now - key.longest - 1
            if not (
                idle
                and unused
                and (not key.completions or key.nth_latest_completion(1) < now - key.longest)
            ):
                break
            forgotten.append(name)
        for name in forgotten:
            del self._keys[name]

    def __len__(self) -> int:
        return len(self._keys)
