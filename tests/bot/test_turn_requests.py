"""A turn's own requests to Teams (bot.turn_requests): counted first in the process's one budget,
never delayed by it, and sent again when Teams answers that it did not take them, within the
turn's bound. Virtual time: the clock moves only when a request waits."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace
from typing import Any

import pytest
from msrest.exceptions import HttpOperationError

from bot.sender.limits import Permit, RateLimiter, RateLimits
from bot.turn_requests import REPLY_RETRY_SECONDS, ReplyNotSent, TurnRequests

pytestmark = pytest.mark.unit

TENANT, CHAT = "tenant-one", "a:chat-1"


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def teams_answer(status: int, retry_after: float | None = None) -> HttpOperationError:
    """What msrest raises for an answer of Teams (as bot.sender.answers.classify reads it)."""
    exc = HttpOperationError.__new__(HttpOperationError)
    Exception.__init__(exc, f"Operation returned an invalid status code {status}")
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    body = json.dumps({"error": {"code": f"Code{status}", "message": "from the test"}})
    exc.response = SimpleNamespace(status_code=status, headers=headers, text=body)
    exc.error = None
    return exc


class Teams:
    """Answers each call with the next of `answers` (an exception is raised), then "sent"."""

    def __init__(self, *answers: HttpOperationError) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.answers:
            raise self.answers.pop(0)
        return "sent"


def turn(vt: VirtualTime, limiter: RateLimiter | None = None, **options: Any) -> TurnRequests:
    return TurnRequests(
        limiter,
        TENANT,
        CHAT,
        clock=vt.clock,
        sleep=vt.sleep,
        rng=random.Random(1),
        **options,
    )


async def test_a_429_is_sent_again_after_its_retry_after_keeping_its_place_meanwhile() -> None:
    vt = VirtualTime()
    limiter = RateLimiter(clock=vt.clock, sleep=vt.sleep)
    tenant = limiter.tenant(TENANT)
    held: list[int] = []

    async def sleep(seconds: float) -> None:
        held.append(tenant.in_flight)  # the retry's place is held while it waits
        await vt.sleep(seconds)

    teams = Teams(teams_answer(429, retry_after=1.5))
    requests = TurnRequests(limiter, TENANT, CHAT, clock=vt.clock, sleep=sleep)
    assert await requests.request(teams, what="a reply") == "sent"
    assert teams.calls == 2
    assert vt.slept == [1.5]
    assert held == [1]
    assert tenant.in_flight == 0
    assert len(tenant.done) == 2  # both attempts count in the tenant's window


async def test_a_429_without_retry_after_backs_off_briefly_and_gives_up_within_the_bound() -> None:
    vt = VirtualTime()
    teams = Teams(*[teams_answer(429) for _ in range(50)])
    with pytest.raises(ReplyNotSent) as raised:
        await turn(vt).request(teams, what="a reply")
    assert not raised.value.maybe_delivered
    assert raised.value.problem.status == 429
    assert vt.slept[0] <= 0.25  # the first back-off is short
    assert sum(vt.slept) <= REPLY_RETRY_SECONDS
    assert teams.calls >= 5  # 0.25, 0.5, 1 and 2 s at most fit in 4 s
    assert teams.calls == len(vt.slept) + 1


async def test_a_retry_after_longer_than_the_turn_can_wait_is_not_waited_for() -> None:
    vt = VirtualTime()
    teams = Teams(teams_answer(429, retry_after=30))
    with pytest.raises(ReplyNotSent):
        await turn(vt).request(teams, what="a reply")
    assert (teams.calls, vt.slept) == (1, [])


async def test_the_bound_is_for_the_whole_turn_not_each_request() -> None:
    vt = VirtualTime()
    requests = turn(vt)
    assert await requests.request(Teams(teams_answer(429, 3)), what="a reply") == "sent"
    with pytest.raises(ReplyNotSent):  # 3 s of the turn's 4 are spent
        await requests.request(Teams(teams_answer(429, 2)), what="an update", repeatable=True)
    assert vt.slept == [3]


@pytest.mark.parametrize("status", [412, 503])
async def test_other_answers_that_say_teams_did_not_act_are_retried(status: int) -> None:
    vt = VirtualTime()
    teams = Teams(teams_answer(status))
    assert await turn(vt).request(teams, what="a reply") == "sent"
    assert teams.calls == 2


@pytest.mark.parametrize("status", [502, 504])
async def test_a_new_card_teams_may_have_delivered_is_not_sent_again(status: int) -> None:
    """No duplicate in front of the person: a 502/504 may come after Teams delivered it."""
    vt = VirtualTime()
    teams = Teams(teams_answer(status))
    with pytest.raises(ReplyNotSent) as raised:
        await turn(vt).request(teams, what="a reply")
    assert raised.value.maybe_delivered
    assert (teams.calls, vt.slept) == (1, [])


@pytest.mark.parametrize("status", [502, 504])
async def test_an_update_is_sent_again_after_a_gateway_error_repeating_it_changes_nothing(
    status: int,
) -> None:
    vt = VirtualTime()
    teams = Teams(teams_answer(status))
    assert await turn(vt).request(teams, what="an update", repeatable=True) == "sent"
    assert teams.calls == 2


@pytest.mark.parametrize("status", [400, 403, 404, 413])
async def test_answers_a_retry_cannot_mend_are_raised_as_teams_gave_them(status: int) -> None:
    vt = VirtualTime()
    answer = teams_answer(status)
    teams = Teams(answer)
    with pytest.raises(HttpOperationError) as raised:
        await turn(vt).request(teams, what="a reply", repeatable=True)
    assert raised.value is answer
    assert teams.calls == 1


async def test_a_reply_is_never_delayed_by_the_budget_but_the_sender_leaves_it_room() -> None:
    """The budget's decision (docs/outbox.md): a reply takes its room at once, even in a full
    window, and whatever waits in `acquire` (the sender) finds that much less."""
    vt = VirtualTime()
    limiter = RateLimiter(RateLimits(per_tenant=((2, 1.0),)), clock=vt.clock, sleep=vt.sleep)
    tenant = limiter.tenant(TENANT)
    for _ in range(2):  # the sender fills the tenant's window
        permit = await limiter.acquire([tenant], max_wait=0)
        assert isinstance(permit, Permit)
        permit.finish()
    vt.now = 0.5
    teams = Teams()
    assert await turn(vt, limiter).request(teams, what="a reply") == "sent"
    assert vt.slept == []  # not delayed, though the window was full
    vt.now = 1.1  # the sender's two requests have left the window; the reply has not
    permit = await limiter.acquire([tenant], max_wait=0)
    assert isinstance(permit, Permit)
    permit.finish()
    assert await limiter.acquire([tenant], max_wait=0) == pytest.approx(0.4, abs=0.01)


async def test_a_429_to_a_reply_pauses_its_chat_for_the_sender_too() -> None:
    vt = VirtualTime()
    limiter = RateLimiter(clock=vt.clock, sleep=vt.sleep)
    teams = Teams(teams_answer(429, retry_after=2))
    assert await turn(vt, limiter).request(teams, what="a reply") == "sent"
    chat = limiter.conversation(CHAT)
    assert chat.paused_until == pytest.approx(2.0)


async def test_without_a_budget_replies_are_still_retried() -> None:
    vt = VirtualTime()
    teams = Teams(teams_answer(429, retry_after=0.5))
    assert await turn(vt, None).request(teams, what="a reply") == "sent"
    assert vt.slept == [0.5]


async def test_after_a_429_the_retry_also_waits_for_the_room_our_count_gives() -> None:
    """Teams counts the refused attempt too: going again the moment its oldest request leaves
    the window would find it full again (the refused attempt took that room). So the retry
    waits for the later of Retry-After and the room the budget's count gives."""
    vt = VirtualTime()
    limiter = RateLimiter(RateLimits(per_tenant=((2, 1.0),)), clock=vt.clock, sleep=vt.sleep)
    tenant = limiter.tenant(TENANT)
    for at in (0.0, 0.2):  # the sender's two requests
        vt.now = at
        permit = await limiter.acquire([tenant], max_wait=0)
        assert isinstance(permit, Permit)
        permit.finish()
    vt.now = 0.5
    teams = Teams(teams_answer(429, retry_after=0.5))  # when Teams' oldest (0.0) leaves
    assert await turn(vt, limiter).request(teams, what="a reply") == "sent"
    # Teams' window at 1.0 would hold 0.2 and the refused 0.5: full. At 1.2 it has room.
    assert vt.slept == [pytest.approx(0.7, abs=0.002)]
