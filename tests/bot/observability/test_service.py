"""/metrics scraped during a whole round through the running service (as `impact-bot serve` runs
it), parsed with Prometheus' own parser: turns by type, verb and outcome with latencies, the
outbox's depth, Teams requests (with a 429 and a failure by error code), the scheduler's
leadership and job lag, the database pool. Also: who may read /metrics, the internal metrics
port, a JSON log line for every turn, and turns as OpenTelemetry spans. SQLite and PostgreSQL.

The registry is the process's, shared with every other test, so figures are compared before
and after, never as absolute values."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from bot.config import Settings
from bot.observability import tracing
from bot.observability.logs import JsonFormatter, TurnFilter
from framework.content import default_framework
from impact.service import create_app
from store import outbox
from store.db import Database
from store.rounds.lifecycle import RoundSpec, create_round, request_close
from store.types import utcnow
from tests.conftest import serve
from tests.e2e.playground import free_port
from tests.fakes.connector import Failure, FakeConnector
from tests.fakes.teams_client import TeamsUser, card_of, card_text
from tests.rounds.services.test_opening import member

pytestmark = pytest.mark.service

WARD = "19:ward7@thread.tacv2"
TOKEN = "metrics-token-for-tests"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: aiohttp.ClientSession, url: str, token: str = TOKEN) -> Samples:
    async with http.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def shows_in(connector: FakeConnector, conversation_id: str, words: str) -> bool:
    return any(words in card_text(card_of(a) or {}) for _i, a in connector.shown(conversation_id))


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def test_metrics_during_a_whole_round(
    db: Database,
    settings_factory: Callable[..., Settings],
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> None:
    settings = settings_factory(reconcile_seconds=0.5, metrics_token=TOKEN)
    runner, url = await serve(create_app(settings, db=db, background=True))
    try:
        before = await scrape(http, url)

        def shows(conversation_id: str, words: str) -> bool:
            return shows_in(connector, conversation_id, words)

        lead = TeamsUser(bot_url=url, connector=connector, session=http, name="Sam Lead")
        await lead.add_bot_to_team(WARD, "Ward 7")
        tenant = lead.tenant_id
        connector.conversations[WARD].members = [member(n, tenant) for n in range(6)]
        # One 429 (retried) and one refusal Teams will not retry, by their error codes.
        connector.fail_create_for("29:staff-5", Failure(403, "ConversationBlockedByUser"))
        connector.fail_next(1, Failure(429, "Throttled", retry_after=0.1))
        now = utcnow()
        spec = RoundSpec("Spring 2027", (WARD,), now, now + timedelta(days=7), "3d")
        framework = default_framework()
        round_id = db.run_sync(
            lambda s: create_round(s, spec, framework=framework, actor="cli:test", now=now).id
        )

        def invited() -> bool:
            chats = [connector.personal_chat(tenant, f"29:staff-{n}") for n in range(5)]
            return all(chat is not None and shows(chat, "Spring 2027") for chat in chats)

        await connector.wait_for(invited, within_s=30)
        during = await scrape(http, url)
        chat = connector.personal_chat(tenant, "29:staff-3")
        assert chat is not None
        staff = TeamsUser(
            bot_url=url, connector=connector, session=http, user_id="29:staff-3",
            name="Staff 3", conversation_id=chat,
        )  # fmt: skip
        staff.tenant_id = tenant
        invitation = next(
            aid for aid, a in connector.shown(chat) if "Spring 2027" in card_text(card_of(a) or {})
        )
        await staff.press("Start", card_id=invitation)
        await staff.say("status")
        db.run_sync(lambda s: request_close(s, round_id, actor="cli:test", now=utcnow()))
        await connector.wait_for(lambda: shows(WARD, "Spring 2027"), within_s=30)
        after = await scrape(http, url)
    finally:
        await runner.cleanup()

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    # Turns by type, verb and outcome, with latency histograms.
    assert grew("impact_turns_total", activity_type="invoke", verb="start", outcome="ok") == 1
    assert grew("impact_turns_total", activity_type="message", verb="text", outcome="ok") == 1
    assert grew("impact_turns_total", activity_type="conversationUpdate", outcome="ok") >= 1
    assert grew("impact_turn_duration_seconds_count", activity_type="invoke", verb="start") == 1
    assert grew("impact_turn_duration_seconds_bucket", verb="start", le="+Inf") == 1
    # Teams requests: 6 chats tried (one refused), 5 invitations, 1 summary, the 429's retry.
    assert grew("impact_teams_request_duration_seconds_count") >= 13
    assert grew("impact_teams_throttled_total") == 1
    assert grew("impact_teams_request_failures_total", status="429", code="Throttled") == 1
    assert (
        grew("impact_teams_request_failures_total", status="403", code="ConversationBlockedByUser")
        == 1
    )
    # The outbox: the refused invitation is failed; what waits has not waited long.
    assert value(after, "impact_outbox_failed") - value(before, "impact_outbox_failed") == 1
    assert ("impact_outbox_pending", frozenset()) in after
    assert value(after, "impact_outbox_oldest_pending_age_seconds") < 60
    # The scheduler led, and each job's lag was measured.
    assert value(during, "impact_scheduler_leader") == 1
    assert grew("impact_scheduler_job_lag_seconds_count", job="round.open") >= 1
    assert grew("impact_scheduler_job_lag_seconds_count", job="round.close") >= 1
    # The database pool is watched.
    assert ("impact_db_pool_in_use", frozenset()) in after or db.is_sqlite


async def test_outbox_depth_and_age_of_the_oldest_pending_message(
    db: Database, settings_factory: Callable[..., Settings], http: aiohttp.ClientSession
) -> None:
    created = utcnow() - timedelta(minutes=5)
    target = outbox.Target.conversation("a:1", "https://smba.example")
    db.run_sync(
        lambda s: outbox.enqueue(
            s, dedupe_key="t:1", kind="notice", tenant_id="t", target=target,
            activity={"type": "message"}, now=created,
        )
    )  # fmt: skip
    runner, url = await serve(create_app(settings_factory(metrics_token=TOKEN), db=db))
    try:
        samples = await scrape(http, url)
    finally:
        await runner.cleanup()
    assert value(samples, "impact_outbox_pending") == 1
    assert 290 < value(samples, "impact_outbox_oldest_pending_age_seconds") < 3600


async def test_deadlock_victims_and_long_lock_holds_are_counted_between_scrapes(
    db: Database, settings_factory: Callable[..., Settings], http: aiohttp.ClientSession
) -> None:
    """The database's own counts (store.db, store.lock_holds) reach /metrics as counters that
    grow by what happened since the last scrape, whatever other tests counted before."""
    runner, url = await serve(create_app(settings_factory(metrics_token=TOKEN), db=db))
    try:
        before = await scrape(http, url)
        db.deadlock_victims += 2  # as Database.run counts a victim it runs again
        db.lock_holds.note(0.2, "a long unit")
        db.lock_holds.note(0.01, "a short unit")
        middle = await scrape(http, url)
        db.lock_holds.note(0.3, "another long unit")
        after = await scrape(http, url)
    finally:
        await runner.cleanup()

    def grew(samples: Samples, name: str) -> float:
        return value(samples, name) - value(before, name)

    assert grew(middle, "impact_db_deadlock_victims_total") == 2
    assert grew(middle, "impact_db_long_write_lock_holds_total") == 1
    assert grew(after, "impact_db_deadlock_victims_total") == 2, "counted once, not per scrape"
    assert grew(after, "impact_db_long_write_lock_holds_total") == 2


async def test_metrics_need_the_token_or_the_internal_port(
    db: Database, settings_factory: Callable[..., Settings], http: aiohttp.ClientSession
) -> None:
    internal = free_port()
    app_id = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    guarded = settings_factory(app_id=app_id, metrics_token=TOKEN, metrics_port=internal)
    runner, url = await serve(create_app(guarded, db=db))
    try:
        for given in ("", "Bearer wrong", f"Basic {TOKEN}"):
            async with http.get(f"{url}/metrics", headers={"Authorization": given}) as resp:
                assert resp.status == 401
                assert "Bearer" in resp.headers["WWW-Authenticate"]
        assert await scrape(http, url)
        async with http.get(f"http://127.0.0.1:{internal}/metrics") as resp:
            assert resp.status == 200
            assert "impact_turns_total" in await resp.text()
    finally:
        await runner.cleanup()
    unguarded = settings_factory(app_id=app_id)
    runner, url = await serve(create_app(unguarded, db=db))
    try:
        async with http.get(f"{url}/metrics") as resp:
            assert resp.status == 404, "outside local mode, no token: not served"
    finally:
        await runner.cleanup()


async def test_every_turn_logs_one_json_line_with_its_id_type_verb_and_duration(
    teams_user: Callable[..., TeamsUser], caplog: pytest.LogCaptureFixture
) -> None:
    user = teams_user(name="Alex Private-Name")
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(TurnFilter())
    await user.say("my secret comment about Ward 7")
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(r)) for r in caplog.records]
    [turn] = [line for line in lines if line["logger"] == "impact_bot.turns"]
    assert turn["activity_type"] == "message"
    assert turn["verb"] == "text"
    assert turn["outcome"] == "ok"
    assert turn["duration_ms"] > 0
    assert len(turn["turn_id"]) == 16
    everything = json.dumps(lines)
    assert "secret" not in everything
    assert "Private-Name" not in everything


async def test_a_turn_parses_its_request_body_once(
    teams_user: Callable[..., TeamsUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turn middleware and the handler share one parse of the activity's JSON (json.loads
    and aiohttp's request.json() both end in JSONDecoder.decode)."""
    marker = "parse-me-once-7f3a"
    parses: list[str] = []
    decode = json.JSONDecoder.decode

    def counting_decode(decoder: json.JSONDecoder, text: str, *args: Any) -> Any:
        value = decode(decoder, text, *args)
        if isinstance(value, dict) and value.get("text") == marker:  # the person's activity
            parses.append(text)
        return value

    monkeypatch.setattr(json.JSONDecoder, "decode", counting_decode)
    user = teams_user()
    await user.say(marker)
    assert len(parses) == 1


async def test_turns_become_spans_when_tracing_is_on(
    db: Database,
    settings_factory: Callable[..., Settings],
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exporter = InMemorySpanExporter()
    real = tracing.build_tracer
    monkeypatch.setattr(
        "bot.observability.service.build_tracer",
        lambda connection: real(connection, exporter=exporter) if connection else None,
    )
    settings = settings_factory(appinsights_connection_string="InstrumentationKey=test")
    runner, url = await serve(create_app(settings, db=db))
    try:
        user = TeamsUser(bot_url=url, connector=connector, session=http)
        await user.say("help")
    finally:
        await runner.cleanup()
    [span] = [s for s in exporter.get_finished_spans() if s.name == "turn message"]
    attributes: dict[str, Any] = dict(span.attributes or {})
    assert attributes["impact.verb"] == "text"
    assert attributes["impact.outcome"] == "ok"
    assert attributes["http.response.status_code"] in (200, 201)
