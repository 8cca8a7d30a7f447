"""A turn's own requests to Teams: the cards it sends the person and the cards it updates.

They leave through the adapter (bot/replies.py), not the outbox sender, but they count in the
process's one budget of Teams requests (`RateLimiter`, made by impact.service.create_app), and
they go first in it: a request is counted the moment it starts, whatever the windows hold
(`RateLimiter.take`), so the sender's waiting requests find that much less room; our own budget
never delays it. Only Teams delays it: an answer that says Teams did not act on the request
(429 Throttled, 412, 503) is sent again after its Retry-After, or a short back-off when Teams
gives none, and not before the budget's count gives the window room, while the turn's few
seconds for it last (`REPLY_RETRY_SECONDS`). While it waits it keeps its place: it holds a slot
in its tenant's and chat's windows, so the sender cannot fill them again before the retry
goes. A card update (PUT: repeating it shows the same card) is also sent again after 502 or
504; a new card is not, because Teams may have delivered it before it answered so (a duplicate
in front of the person), and the person, who is there, can carry on with any message.
A request Teams does not answer at all within the adapter's request timeout
(IMPACT_REPLY_TIMEOUT_SECONDS, bot.adapter) is given up the same way, and the turn makes no
further request to Teams: one that hung will likely hang again, and the Bot Connector gives the
whole turn about 15 s. docs/outbox.md ("Turn replies") gives the decision and its reasons.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from botbuilder.core import Middleware, TurnContext
from msrest.exceptions import ClientRequestError, HttpOperationError

from bot.adapter import TokenUnavailable
from bot.identity import tenant_of
from bot.sender.answers import Problem, classify
from bot.sender.limits import LimitKey, Permit, RateLimiter, Sleep

log = logging.getLogger(__name__)

T = TypeVar("T")

# Teams gives a bot 15 s to answer the HTTP request of a turn; a turn's database work may take
# 8 s (bot.web.TURN_DATABASE_SECONDS). 4 s of waiting between attempts leaves room for both,
# honours the Retry-After Teams gives for its 1 s and 2 s windows, and allows four back-offs
# (0.25, 0.5, 1 and 2 s) when it gives none. Counted from the turn's first refusal, for all its
# requests together.
REPLY_RETRY_SECONDS = 4.0
FIRST_BACKOFF_SECONDS = 0.25
NOT_TAKEN = frozenset({412, 429, 503})  # Teams' answer says it did not act on the request
MAYBE_TAKEN = frozenset({502, 504})  # its gateway's answer: it may have (docs/outbox.md)

TURN_REQUESTS = "impact.turn_requests"  # where a turn keeps its TurnRequests (turn_state)


class ReplyNotSent(Exception):
    """A turn's request that Teams did not take within the turn's time for it, or that it may
    have taken (`maybe_delivered`: 502, 504 on a new card; no answer at all, on any request).
    Logged, never an apology: what the person did was saved before the reply, and their next
    message carries on from there."""

    def __init__(
        self,
        what: str,
        problem: Problem,
        attempts: int,
        *,
        maybe_delivered: bool,
        reason: str = "",
    ):
        answer = (
            f"{problem.status} {problem.describe()}"
            if problem.status is not None
            else f"no answer from Teams ({problem.describe()})"
        )
        super().__init__(
            f"{what}: {reason or answer + f' after {attempts} attempt(s)'}"
            + (" (Teams may have delivered it)" if maybe_delivered else "")
        )
        self.problem = problem
        self.attempts = attempts
        self.maybe_delivered = maybe_delivered


class TurnRequests:
    """One turn's requests to Teams, counted in `limiter` (None: counted nowhere) under the
    turn's tenant and conversation, and retried as the module docstring says."""

    def __init__(
        self,
        limiter: RateLimiter | None,
        tenant_id: str,
        conversation_id: str,
        *,
        retry_seconds: float = REPLY_RETRY_SECONDS,
        first_backoff: float = FIRST_BACKOFF_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._limiter = limiter
        self._tenant_id = tenant_id
        self._conversation_id = conversation_id
        self._retry_seconds = retry_seconds
        self._first_backoff = first_backoff
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._deadline: float | None = None  # set at the turn's first refusal
        self._unanswered: Problem | None = None  # a request of this turn Teams never answered

    async def request(
        self, call: Callable[[], Awaitable[T]], *, what: str, repeatable: bool = False
    ) -> T:
        """`call()` (one request to Teams), counted first in the budget, and made again while
        Teams says it did not take it; `repeatable`: repeating it changes nothing (an update),
        so a 502 or 504 is tried again too. Raises ReplyNotSent when it gives up (at once, once a
        request of this turn got no answer), and Teams' other answers (403, 404, 413 ...) as the
        SDK raised them."""
        if self._unanswered is not None:
            raise ReplyNotSent(
                what,
                self._unanswered,
                0,
                maybe_delivered=False,
                reason="not sent: an earlier request of this turn got no answer from Teams",
            )
        permit = self._take()
        attempt = 0
        try:
            while True:
                attempt += 1
                try:
                    return await call()
                except ClientRequestError as exc:
                    # No answer within the request timeout (or no connection, no token): Teams
                    # may have acted on it (not if there was no token), so it is not sent again,
                    # and nothing else is tried in this turn (another wait would outlast it).
                    self._unanswered = classify(exc)
                    raise ReplyNotSent(
                        what,
                        self._unanswered,
                        attempt,
                        maybe_delivered=not isinstance(exc, TokenUnavailable),
                    ) from exc
                except HttpOperationError as exc:
                    self._finish(permit)  # this attempt is over (and counted, as Teams did)
                    wait = self._wait_before_retry(classify(exc), attempt, what, repeatable)
                    if wait is None:
                        raise
                # Keep our place while we wait: the next attempt is counted (in flight) from
                # now, so the sender cannot fill the room it waits for before it goes.
                permit = self._take()
                await self._sleep(wait)
        finally:
            self._finish(permit)

    def _wait_before_retry(
        self, problem: Problem, attempt: int, what: str, repeatable: bool
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to raise Teams' answer as it is
        (not something a retry could mend); raises ReplyNotSent to give up."""
        status = problem.status
        if status in MAYBE_TAKEN and not repeatable:
            raise ReplyNotSent(what, problem, attempt, maybe_delivered=True)
        if status not in NOT_TAKEN and not (status in MAYBE_TAKEN and repeatable):
            return None
        wait = problem.retry_after
        if wait is None:
            ceiling = self._first_backoff * 2 ** (attempt - 1)
            wait = ceiling / 2 + (self._rng or random).uniform(0, ceiling / 2)
        now = self._clock()
        if self._limiter is not None:
            keys = self._limit_keys(self._limiter)
            if status == 429:
                self._limiter.throttled(*keys, wait)  # the sender pauses that chat too
            # Teams counts the refused attempt in its windows as we do: going again the moment
            # Teams' oldest request leaves them would only fill that room again. Wait as well
            # for the room our own count gives (the sender, which sees our place held, leaves
            # it to us).
            room = max(self._limiter.delay(key, now) for key in keys)
            if math.isfinite(room):
                wait = max(wait, room)
        if self._deadline is None:
            self._deadline = now + self._retry_seconds
        if now + wait > self._deadline:
            raise ReplyNotSent(what, problem, attempt, maybe_delivered=False)
        log.info(
            "%s: Teams answered %s %s; sending it again in %.2f s (attempt %d)",
            what,
            status,
            problem.code,
            wait,
            attempt + 1,
        )
        return wait

    def _limit_keys(self, limiter: RateLimiter) -> tuple[LimitKey, LimitKey]:
        # Looked up each time, not kept: between two requests an idle key may be pruned.
        return limiter.conversation(self._conversation_id), limiter.tenant(self._tenant_id)

    def _take(self) -> Permit | None:
        if self._limiter is None:
            return None
        return self._limiter.take(self._limit_keys(self._limiter))

    @staticmethod
    def _finish(permit: Permit | None) -> None:
        if permit is not None:
            permit.finish()


class CountTurnRequests(Middleware):  # type: ignore[misc]
    """Gives every turn its TurnRequests, counted in the process's one budget (`limiter`)."""

    def __init__(self, limiter: RateLimiter | None, **options: Any) -> None:
        self._limiter = limiter
        self._options = options

    async def on_turn(self, context: TurnContext, logic: Callable[[], Awaitable[Any]]) -> None:
        context.turn_state[TURN_REQUESTS] = self.for_turn(context)
        await logic()

    def for_turn(self, context: TurnContext) -> TurnRequests:
        conversation = context.activity.conversation
        return TurnRequests(
            self._limiter,
            tenant_of(context),
            str(getattr(conversation, "id", "") or ""),
            **self._options,
        )


def turn_requests(context: TurnContext) -> TurnRequests:
    """This turn's TurnRequests (one counted nowhere if the app gave the adapter none)."""
    found = context.turn_state.get(TURN_REQUESTS)
    if not isinstance(found, TurnRequests):
        found = CountTurnRequests(None).for_turn(context)
        context.turn_state[TURN_REQUESTS] = found
    return found
