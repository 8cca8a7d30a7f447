"""The service's one budget, served to a sender process over a connection (bot/sender/
budget_link.py): both ends for real, over a socket pair, with the service's real RateLimiter."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from prometheus_client import REGISTRY

from bot.sender.budget_link import BudgetServer, ErrorLinesToService, RemoteBudget, RemotePermit
from bot.sender.limits import RateLimiter, RateLimits

pytestmark = pytest.mark.unit

LIMITS = RateLimits(per_conversation=((7, 1.0), (8, 2.0)), per_tenant=((5, 1.0),))


@dataclass
class Link:
    server: BudgetServer
    budget: RemoteBudget
    serving: asyncio.Task[None]
    service_end: socket.socket

    @property
    def limiter(self) -> RateLimiter:
        return self.server.limiter


async def _link(server: BudgetServer) -> AsyncIterator[Link]:
    service_end, sender_end = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=service_end)
    serving = asyncio.create_task(server.serve(reader, writer))
    budget = await RemoteBudget.over(sender_end)
    yield Link(server, budget, serving, service_end)
    await budget.aclose()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(serving, 5)


@pytest.fixture
async def link() -> AsyncIterator[Link]:
    async for made in _link(BudgetServer(RateLimiter(LIMITS))):
        yield made


async def _settled() -> None:
    """Let both ends read what was written (the same loop: a few turns of it)."""
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)


async def test_the_sender_learns_the_services_limits_and_its_permits_count_there(
    link: Link,
) -> None:
    budget = link.budget
    assert budget.limits == LIMITS
    keys = [budget.conversation("chat-1"), budget.tenant("t1")]
    permit = await budget.acquire(keys, max_wait=1.0)
    assert isinstance(permit, RemotePermit)
    tenant = link.limiter.tenant("t1")
    chat = link.limiter.conversation("chat-1")
    assert (tenant.in_flight, chat.in_flight) == (1, 1)  # counted from its start, as in-process
    permit.finish()
    permit.finish()  # twice is once
    await _settled()
    assert (tenant.in_flight, len(tenant.done), len(chat.done)) == (0, 1, 1)


async def test_the_services_own_requests_leave_the_sender_no_room(link: Link) -> None:
    """A reply the service takes (a person waiting) counts against the sender at once: with the
    tenant's 5 a second taken, the sender is told how long to wait, and gets its permit when a
    second has passed since they finished."""
    tenant = link.limiter.tenant("t1")
    taken = [link.limiter.take([tenant]) for _ in range(5)]
    remote = [link.budget.tenant("t1")]
    asking = asyncio.create_task(link.budget.acquire(remote, max_wait=0.0))
    await _settled()
    assert not asking.done()  # all five in flight: only a finish can make room
    for permit in taken:
        permit.finish()
    wait = await asyncio.wait_for(asking, 2)
    assert isinstance(wait, float)
    assert 0.9 < wait <= 1.01
    loop = asyncio.get_running_loop()
    started = loop.time()
    granted = await link.budget.acquire(remote, max_wait=2.0)
    assert isinstance(granted, RemotePermit)
    assert loop.time() - started >= 0.9
    granted.finish()


async def test_a_sender_that_goes_gives_back_every_permit_it_held(link: Link) -> None:
    keys = [link.budget.tenant("t1")]
    held = [await link.budget.acquire(keys, max_wait=1.0) for _ in range(5)]
    assert all(isinstance(p, RemotePermit) for p in held)
    waiting = asyncio.create_task(link.budget.acquire(keys, max_wait=1.0))  # a sixth: no room
    await _settled()
    tenant = link.limiter.tenant("t1")
    assert tenant.in_flight == 5
    assert not waiting.done()
    await link.budget.aclose()  # the process died: its end of the connection closes
    await asyncio.wait_for(link.serving, 5)
    assert tenant.in_flight == 0  # nothing leaks into the service's budget
    assert await waiting == 0.0  # and the sender's own waiter is let go
    assert link.server.connected == 0


async def test_a_sender_that_stops_waiting_leaves_nothing_held(link: Link) -> None:
    tenant = link.limiter.tenant("t1")
    taken = [link.limiter.take([tenant]) for _ in range(5)]  # full until one finishes
    stopping = False
    waiting = asyncio.create_task(
        link.budget.acquire([link.budget.tenant("t1")], max_wait=30.0, stopping=lambda: stopping)
    )
    await _settled()
    stopping = True
    assert await asyncio.wait_for(waiting, 2) == 0.0
    for permit in taken:
        permit.finish()
    await asyncio.sleep(1.1)  # the window empties; a grant to the cancelled wait would show
    assert tenant.in_flight == 0


async def test_a_grant_that_arrives_after_the_sender_gave_up_is_handed_back(link: Link) -> None:
    """The service granted while the sender was giving up on the request: the grant finds no
    one waiting for it, and the permit goes straight back."""
    link.budget._send(["A", 1000, "t1", None, 1.0])  # a request no acquire is waiting on
    await _settled()
    tenant = link.limiter.tenant("t1")
    assert (tenant.in_flight, len(tenant.done)) == (0, 1)


async def test_teams_throttling_seen_by_the_sender_pauses_the_service_too(link: Link) -> None:
    link.budget.throttled(link.budget.conversation("chat-1"), link.budget.tenant("t1"), 3.0)
    await _settled()
    chat = link.limiter.conversation("chat-1")
    now = asyncio.get_running_loop().time()
    assert chat.paused_until > now + 2.5  # the service's replies to that chat wait too
    assert link.limiter.delay(chat, now) > 2.5


async def test_a_wake_reaches_the_sender(link: Link) -> None:
    woken = asyncio.Event()
    link.budget.on_wake = woken.set
    link.server.wake()
    await asyncio.wait_for(woken.wait(), 2)


async def test_the_sender_knows_when_the_service_has_gone(link: Link) -> None:
    tenant = link.limiter.tenant("t1")
    taken = [link.limiter.take([tenant]) for _ in range(5)]
    waiting = asyncio.create_task(link.budget.acquire([link.budget.tenant("t1")], max_wait=30.0))
    await _settled()
    link.serving.cancel()
    link.service_end.close()
    await asyncio.wait_for(link.budget.closed.wait(), 2)
    assert await asyncio.wait_for(waiting, 2) == 0.0
    assert await link.budget.acquire([link.budget.tenant("t1")], max_wait=1.0) == 0.0
    del taken


async def test_a_line_the_service_cannot_read_is_logged_and_the_link_goes_on(
    link: Link, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="bot.sender.budget_link"):
        link.budget._send(["X"])
        link.budget._writer.write(b"not json\n")
        link.budget._send(["A", 99])
        permit = await link.budget.acquire([link.budget.tenant("t1")], max_wait=1.0)
    assert isinstance(permit, RemotePermit)
    assert len([r for r in caplog.records if "cannot read" in r.message]) == 3


async def test_the_senders_requests_reach_the_services_metrics(link: Link) -> None:
    def count(status: str) -> float:
        value = REGISTRY.get_sample_value(
            "impact_teams_request_failures_total", {"status": status, "code": "Throttled"}
        )
        return value or 0.0

    before = count("429")
    link.budget.observe(0.05, 429, "Throttled")
    await _settled()
    assert count("429") == before + 1


async def test_a_line_the_sender_cannot_read_is_logged_and_the_link_goes_on(
    link: Link, caplog: pytest.LogCaptureFixture
) -> None:
    served = next(iter(link.server._connections))
    with caplog.at_level(logging.ERROR, logger="bot.sender.budget_link"):
        served.writer.write(b"not json\n")
        served.send(["P"])
        await _settled()
        permit = await link.budget.acquire([link.budget.tenant("t1")], max_wait=1.0)
    assert isinstance(permit, RemotePermit)
    assert not link.budget.closed.is_set()
    assert len([r for r in caplog.records if "the sender cannot read" in r.message]) == 2


async def test_the_senders_error_lines_reach_the_services_error_count(link: Link) -> None:
    name = "tests.budget_link.a_sender_module"

    def errors() -> float:
        value = REGISTRY.get_sample_value("impact_errors_total", {"where": "log", "logger": name})
        return value or 0.0

    before = errors()
    handler = ErrorLinesToService(link.budget)
    sender_log = logging.getLogger(name)
    # Only this handler: the service's own ErrorCounter, on the root logger once a test has set
    # logging up, would count the same lines in this (one) process.
    sender_log.propagate = False
    sender_log.addHandler(handler)
    try:
        sender_log.warning("not counted")
        sender_log.error("counted")
        await asyncio.to_thread(sender_log.error, "counted, from another thread")
        await _settled()
    finally:
        sender_log.removeHandler(handler)
    assert errors() == before + 2
