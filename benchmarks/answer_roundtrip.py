"""Answer round trip: impact-bot against a bare botbuilder 4.17 echo bot, in one process.

    .venv/bin/python benchmarks/answer_roundtrip.py [--people 20] [--answers-per-person 22]
        [--backends sqlite,postgresql] [--json] [--profile] [--client teamsuser|lean]

Everything runs in this one process on loopback HTTP: the bot under test (aiohttp), the fake Bot
Connector that stands in for Teams (tests/fakes/connector.py) and the simulated people. For each
configuration (echo bot, impact-bot on SQLite, impact-bot on PostgreSQL):

1. warm-up: a couple of people take a few turns (not measured);
2. single person: one person at a time takes turns one after another (the 1-person p50);
3. concurrent: N people, set up first (not timed), then all take M turns at once, each waiting
   for its own HTTP response before its next turn. Throughput = turns / wall time of this phase.

Latency of a turn = from just before the POST to /api/messages until the HTTP response has been
read. The bot posts its reply (the echo, or the next question card) to the connector during the
turn and awaits the connector's answer before it finishes, so by then the connector has recorded
it. That is checked on every turn: after the response, with no `await` in between (everything
shares one event loop, so nothing else can run), the person's conversation on the fake connector
must hold exactly one new activity, and it must be the expected one (the echoed text; question
n+1, or the review card after the last question). A turn that fails the check stops the run.

After the impact-bot runs the database is checked: every measured person must have exactly one
assessment with exactly M answers, at the levels that person sent. Exit status: 0, or 1 if a
check failed (missing the performance target is a measurement, not a failure), or 2 if a
configuration could not be set up (e.g. PostgreSQL unreachable).

`--profile` runs only the impact-bot SQLite configuration, with pyinstrument sampling the event
loop's thread during the concurrent phase (written to artifacts/profile-answer.html, top of the
text report printed), plus a second pyinstrument profile of the database worker thread (text only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import sqlalchemy as sa
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make bot/, store/, tests/ importable
    sys.path.insert(0, str(ROOT))

from benchmarks.echo_bot import create_echo_app  # noqa: E402
from benchmarks.throwaway import Throwaway  # noqa: E402
from bot.config import load_settings  # noqa: E402
from framework.content import default_framework  # noqa: E402
from impact.service import create_app  # noqa: E402
from store.db import Database  # noqa: E402
from store.schema import upgrade  # noqa: E402
from tests.fakes.connector import ConversationState, FakeConnector  # noqa: E402
from tests.fakes.teams_client import TeamsUser, card_of, card_text, find_action  # noqa: E402

POSTGRES_URL = os.environ.get(
    "IMPACT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
PROFILE_HTML = ROOT / "artifacts" / "profile-answer.html"
TARGET_RATIO = 2.0
TARGET_SINGLE_P50_MS = 10.0


class BenchmarkError(Exception):
    """A turn or a data check did not do what it should: the figures would mean nothing."""


class SetupError(Exception):
    """A configuration could not be brought up (e.g. PostgreSQL not reachable)."""


# ---- figures ------------------------------------------------------------------------------


def percentiles_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 in ms, linear interpolation between closest ranks (statistics 'inclusive')."""
    if len(samples) < 2:
        value = samples[0] * 1000 if samples else float("nan")
        return {"p50_ms": value, "p95_ms": value, "p99_ms": value}
    cuts = statistics.quantiles([s * 1000 for s in samples], n=100, method="inclusive")
    return {"p50_ms": cuts[49], "p95_ms": cuts[94], "p99_ms": cuts[98]}


@dataclass
class DataCheck:
    expected_answers: int
    people: int = 0
    passed: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.people > 0 and self.passed == self.people


@dataclass
class ConfigResult:
    name: str
    key: str
    people: int
    turns: int
    wall_s: float
    cpu_s: float  # process CPU (all threads) during the concurrent phase
    latencies: list[float]
    single_latencies: list[float]
    data_check: DataCheck | None = None
    bookkeeping_ms: float | None = None

    @property
    def turns_per_s(self) -> float:
        return self.turns / self.wall_s if self.wall_s else float("nan")

    @property
    def cpu_ms_per_turn(self) -> float:
        return self.cpu_s / self.turns * 1000 if self.turns else float("nan")

    @property
    def single_p50_ms(self) -> float:
        return percentiles_ms(self.single_latencies)["p50_ms"]

    def as_dict(self) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "config": self.name,
            "key": self.key,
            "people": self.people,
            "turns": self.turns,
            "wall_s": round(self.wall_s, 4),
            "cpu_ms_per_turn": round(self.cpu_ms_per_turn, 3),
            "turns_per_s": round(self.turns_per_s, 2),
            **{k: round(v, 3) for k, v in percentiles_ms(self.latencies).items()},
            "single_person_p50_ms": round(self.single_p50_ms, 3),
            "single_person_turns": len(self.single_latencies),
        }
        if self.bookkeeping_ms is not None:
            figures["teamsuser_bookkeeping_ms_per_press"] = round(self.bookkeeping_ms, 4)
        if self.data_check is not None:
            figures["data_check"] = {
                "expected_answers": self.data_check.expected_answers,
                "people": self.data_check.people,
                "passed": self.data_check.passed,
                "ok": self.data_check.ok,
                "problems": self.data_check.problems,
            }
        return figures


# ---- serving --------------------------------------------------------------------------------


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def client_session(people: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(100, 2 * people + 8)))


@contextmanager
def database_url_for(backend: str) -> Iterator[str]:
    """A fresh database (benchmarks/throwaway.py): a SQLite file in a temporary folder, or a
    throwaway PostgreSQL database impact_bench_<uuid> on the test server, dropped after."""
    if backend not in ("sqlite", "postgresql"):
        raise SetupError(f"unknown backend {backend!r} (use sqlite or postgresql)")
    try:
        database = Throwaway(POSTGRES_URL if backend == "postgresql" else None, "bench")
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise SetupError(
            f"PostgreSQL not reachable at {POSTGRES_URL} ({first}); set IMPACT_TEST_POSTGRES_URL "
            "or use --backends sqlite"
        ) from exc
    try:
        yield database.url
    finally:
        database.drop()


# ---- simulated people -----------------------------------------------------------------------


class Person:
    """One simulated person; `turn(n)` takes their n-th timed turn and returns its latency (s)."""

    def __init__(self, bot_url: str, connector: FakeConnector, session: aiohttp.ClientSession):
        self.user = TeamsUser(bot_url=bot_url, connector=connector, session=session)
        self.session = session
        self.url = f"{bot_url}/api/messages"
        self.state: ConversationState = connector.conversations[self.user.conversation_id]

    async def begin(self) -> None:
        """Anything before the timed turns (not timed)."""

    async def turn(self, number: int) -> float:
        raise NotImplementedError

    def _new_activity(self, before: int, what: str) -> dict[str, Any]:
        """The one activity the bot sent in this turn, as the connector recorded it."""
        shown = len(self.state.order)
        if shown != before + 1:
            raise BenchmarkError(
                f"{self.user.user_id} {what}: the connector recorded {shown - before} "
                "activities in this turn, expected 1"
            )
        return self.state.activities[self.state.order[-1]]


class EchoPerson(Person):
    def __init__(self, *args: Any, lean: bool) -> None:
        super().__init__(*args)
        self.lean = lean
        self.template = self.user.activity(type="message", text="")

    async def turn(self, number: int) -> float:
        text = f"hello {number} from {self.user.user_id}"
        before = len(self.state.order)
        if self.lean:
            activity = {**self.template, "id": f"f:{uuid.uuid4().hex}", "text": text}
            start = time.perf_counter()
            async with self.session.post(self.url, json=activity) as response:
                await response.read()
                status = response.status
            end = time.perf_counter()
        else:
            start = time.perf_counter()
            status = (await self.user.say(text)).status
            end = time.perf_counter()
        # No await since `end`: what the connector holds now, it held when the response came.
        if status not in (200, 201):
            raise BenchmarkError(f"echo turn {number}: HTTP {status}")
        reply = self._new_activity(before, f"echo turn {number}")
        if reply.get("text") != text:
            raise BenchmarkError(f"echo turn {number}: the reply was {reply.get('text')!r}")
        return end - start


class ImpactPerson(Person):
    def __init__(self, *args: Any, lean: bool, questions: int, rng: random.Random) -> None:
        super().__init__(*args)
        self.lean = lean
        self.questions = questions
        self.rng = rng
        self.sent: dict[int, int] = {}  # question number -> level sent

    async def begin(self) -> None:
        installed = await self.user.install()
        started = await self.user.press("Start")
        _, card = self.user.last_card()
        if installed.status not in (200, 201) or started.status != 200:
            raise BenchmarkError(f"install/start: HTTP {installed.status}/{started.status}")
        if not _first_text(card).startswith(f"Question 1 of {self.questions}"):
            raise BenchmarkError(f"after Start the card reads {_first_text(card)!r}")

    async def turn(self, number: int) -> float:
        """Answer question `number` with "Next" and a random level."""
        level = self.rng.randint(1, 5)
        inputs = {"level": str(level), "comment": ""}
        before = len(self.state.order)
        if self.lean:
            card_id = self.state.order[-1]
            card = card_of(self.state.activities[card_id]) or {}
            data = {**(find_action(card, "Next").get("data") or {}), **inputs}
            activity = self.user.activity(
                type="invoke",
                name="adaptiveCard/action",
                replyToId=card_id,
                value={
                    "action": {"type": "Action.Execute", "verb": "answer", "data": data},
                    "trigger": "manual",
                },
            )
            start = time.perf_counter()
            async with self.session.post(self.url, json=activity) as response:
                body = await response.json()
                status = response.status
            end = time.perf_counter()
        else:
            start = time.perf_counter()
            result = await self.user.press("Next", inputs)
            end = time.perf_counter()
            status, body = result.status, result.body
        # No await since `end`: what the connector holds now, it held when the response came.
        what = f"answer {number}"
        if status != 200 or not isinstance(body, dict) or body.get("type") != CARD_TYPE:
            raise BenchmarkError(f"{what}: HTTP {status}, body {str(body)[:200]}")
        card = card_of(self._new_activity(before, what)) or {}
        if number < self.questions:
            expected = f"Question {number + 1} of {self.questions}"
            if not _first_text(card).startswith(expected):
                raise BenchmarkError(f"{what}: next card reads {_first_text(card)!r}")
        elif "Check your answers" not in card_text(card):
            raise BenchmarkError(f"{what}: expected the review card, got {_first_text(card)!r}")
        self.sent[number] = level
        return end - start


def _first_text(card: dict[str, Any]) -> str:
    body = card.get("body") or [{}]
    return str(body[0].get("text", ""))


async def take_turns(person: Person, turns: int, latencies: list[float] | None) -> None:
    for number in range(1, turns + 1):
        latency = await person.turn(number)
        if latencies is not None:
            latencies.append(latency)


async def concurrently(people: Sequence[Person], turns: int) -> tuple[list[float], float, float]:
    """All people set up (untimed), then all take their turns at once.

    Returns (latencies, wall seconds, process CPU seconds) of the timed part."""
    await asyncio.gather(*(person.begin() for person in people))
    latencies: list[float] = []
    cpu = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(take_turns(person, turns, latencies) for person in people))
    return latencies, time.perf_counter() - start, time.process_time() - cpu


async def one_at_a_time(people: Sequence[Person], turns: int) -> list[float]:
    latencies: list[float] = []
    for person in people:
        await person.begin()
        await take_turns(person, turns, latencies)
    return latencies


# ---- configurations -------------------------------------------------------------------------


@dataclass
class Options:
    people: int
    turns: int
    single_people: int
    warmup_people: int
    warmup_turns: int
    lean: bool
    seed: int


async def measure(
    name: str,
    key: str,
    bot_app: web.Application,
    make_person: Callable[[str, FakeConnector, aiohttp.ClientSession, str], Person],
    options: Options,
    around_concurrent: Callable[[Awaitable[Any]], Awaitable[Any]] | None = None,
) -> tuple[ConfigResult, list[Person]]:
    """Warm-up, single person, concurrent; returns the figures and the measured people."""
    connector = FakeConnector()
    await connector.start()
    runner, bot_url = await serve(bot_app)
    try:
        async with client_session(options.people) as session:

            def people(count: int, tag: str) -> list[Person]:
                return [
                    make_person(bot_url, connector, session, f"{tag}-{i}") for i in range(count)
                ]

            warmup = people(options.warmup_people, "warmup")
            await asyncio.gather(*(p.begin() for p in warmup))
            await asyncio.gather(*(take_turns(p, options.warmup_turns, None) for p in warmup))

            single = people(options.single_people, "single")
            single_latencies = await one_at_a_time(single, options.turns)

            crowd = people(options.people, "crowd")
            run = concurrently(crowd, options.turns)
            if around_concurrent is not None:
                latencies, wall, cpu = await around_concurrent(run)
            else:
                latencies, wall, cpu = await run
    finally:
        await runner.cleanup()
        await connector.stop()
    result = ConfigResult(
        name=name,
        key=key,
        people=options.people,
        turns=len(latencies),
        wall_s=wall,
        cpu_s=cpu,
        latencies=latencies,
        single_latencies=single_latencies,
    )
    return result, [*single, *crowd]


async def run_echo(options: Options) -> ConfigResult:
    def make(url: str, connector: FakeConnector, session: aiohttp.ClientSession, _tag: str):
        return EchoPerson(url, connector, session, lean=options.lean)

    result, _ = await measure("echo bot (bare SDK)", "echo", create_echo_app(), make, options)
    return result


async def run_impact(
    backend: str, options: Options, *, profile: bool = False
) -> tuple[ConfigResult, str | None]:
    questions = default_framework().question_count
    if options.turns > questions:
        raise SetupError(f"--answers-per-person is at most {questions} (the framework's questions)")
    with database_url_for(backend) as url:
        db = Database(url)
        try:
            try:
                upgrade(db.engine)
            except Exception as exc:
                raise SetupError(f"migrating the {backend} database failed: {exc!r}") from exc
            app = create_app(load_settings(database_url=url, app_id=""), db=db)

            def make(
                bot_url: str, connector: FakeConnector, session: aiohttp.ClientSession, tag: str
            ) -> Person:
                rng = random.Random(f"{options.seed}-{backend}-{tag}")
                person = ImpactPerson(
                    bot_url, connector, session, lean=options.lean, questions=questions, rng=rng
                )
                return person

            profiler_report: list[str] = []
            around = _profiled(db, profiler_report) if profile else None
            result, people = await measure(
                f"impact-bot {backend}", backend, app, make, options, around
            )
            result.data_check = check_answers(db, people, options.turns)
            result.bookkeeping_ms = teamsuser_bookkeeping_ms(people[-1])
        finally:
            db.dispose()
    return result, (profiler_report[0] if profiler_report else None)


def check_answers(db: Database, people: Sequence[Person], expected: int) -> DataCheck:
    """Every measured person: one assessment, exactly `expected` answers, at the levels sent."""
    check = DataCheck(expected_answers=expected, people=len(people))
    by_user = {p.user.user_id: p for p in people if isinstance(p, ImpactPerson)}
    query = sa.text(
        "SELECT p.teams_user_id, s.id, a.question_number, a.level "
        "FROM people p JOIN assessments s ON s.person_id = p.id "
        "LEFT JOIN answers a ON a.assessment_id = s.id "
        "WHERE p.teams_user_id IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    with db.engine.connect() as connection:
        rows = connection.execute(query, {"ids": list(by_user)}).all()
    assessments: dict[str, set[int]] = {uid: set() for uid in by_user}
    answers: dict[str, dict[int, int | None]] = {uid: {} for uid in by_user}
    for user_id, assessment_id, question, level in rows:
        assessments[user_id].add(assessment_id)
        if question is not None:
            answers[user_id][question] = level
    for user_id, person in by_user.items():
        stored = answers[user_id]
        if len(assessments[user_id]) != 1:
            check.problems.append(f"{user_id}: {len(assessments[user_id])} assessments")
        elif len(stored) != expected:
            check.problems.append(f"{user_id}: {len(stored)} answers, expected {expected}")
        elif stored != person.sent:
            check.problems.append(f"{user_id}: stored levels differ from the levels sent")
        else:
            check.passed += 1
    return check


def teamsuser_bookkeeping_ms(person: Person, repeats: int = 2000) -> float:
    """What TeamsUser.press does besides HTTP (find the latest card and its action, build the
    invoke, show the settled card in place), on a chat holding a whole assessment: ms/press."""
    user = person.user
    card_id, card = user.last_card()
    start = time.perf_counter()
    for _ in range(repeats):
        card_id, card = user.last_card()
        action = find_action(card, card["actions"][0]["title"])  # the review card has no Next
        data = {**(action.get("data") or {}), "level": "3", "comment": ""}
        activity = user.activity(
            type="invoke",
            name="adaptiveCard/action",
            replyToId=card_id,
            value={"action": {"type": "Action.Execute", "verb": "answer", "data": data}},
        )
        json.dumps(activity)  # what the session does to the body
        user.connector.replace_shown(user.conversation_id, card_id, user.chat()[-1][1])
    return (time.perf_counter() - start) / repeats * 1000


def _profiled(db: Database, report: list[str]) -> Callable[[Awaitable[Any]], Awaitable[Any]]:
    """Run the concurrent phase under pyinstrument: the event loop's thread (HTML + text) and
    the database worker thread (text), since the loop only sees DB work as waiting."""
    from pyinstrument import Profiler

    async def around(run: Awaitable[Any]) -> Any:
        loop_profiler = Profiler(interval=0.0005, async_mode="disabled")
        db_profiler = Profiler(interval=0.0005, async_mode="disabled")
        await db.run(lambda _session: db_profiler.start())  # SQLite: the one DB worker thread
        loop_profiler.start()
        try:
            result = await run
        finally:
            loop_profiler.stop()
            await db.run(lambda _session: db_profiler.stop())
        PROFILE_HTML.parent.mkdir(parents=True, exist_ok=True)
        PROFILE_HTML.write_text(loop_profiler.output_html(), encoding="utf-8")
        report.append(
            "== event loop thread (artifacts/profile-answer.html) ==\n"
            + loop_profiler.output_text(unicode=True, color=False)
            + "\n== database worker thread ==\n"
            + db_profiler.output_text(unicode=True, color=False)
        )
        return result

    return around


# ---- report ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # Other processes compete for the same cores; a busy machine makes the figures noisy.
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def summary(
    results: list[ConfigResult], options: Options, started: dict[str, Any]
) -> dict[str, Any]:
    echo = next((r for r in results if r.key == "echo"), None)
    impact = [r for r in results if r.key != "echo"]
    ratios = {r.key: round(r.turns_per_s / echo.turns_per_s, 3) for r in impact if echo is not None}
    met = bool(impact) and all(
        ratios.get(r.key, 0) >= TARGET_RATIO and r.single_p50_ms < TARGET_SINGLE_P50_MS
        for r in impact
    )
    checks = [r.data_check for r in impact if r.data_check is not None]
    return {
        "machine": started,
        "options": {
            "people": options.people,
            "turns_per_person": options.turns,
            "single_people": options.single_people,
            "warmup": f"{options.warmup_people} people x {options.warmup_turns} turns",
            "client": "lean" if options.lean else "teamsuser",
        },
        "configs": [r.as_dict() for r in results],
        "ratio_impact_over_echo": ratios,
        "target": {
            "ratio_at_least": TARGET_RATIO,
            "single_person_p50_ms_below": TARGET_SINGLE_P50_MS,
            "met": met,
        },
        "data_check_ok": all(c.ok for c in checks),
    }


def print_table(results: list[ConfigResult], facts: dict[str, Any]) -> None:
    m = facts["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['date']}")
    load = m.get("load_avg_1m_at_start")
    if load is not None:
        busy = "  (busy: other processes share the cores, figures are noisy)" if load > 0.5 else ""
        print(f"load average (1 min) at start: {load:.2f}{busy}")
    o = facts["options"]
    print(
        f"each person: {o['turns_per_person']} turns; 1-person p50 over {o['single_people']} "
        f"people one at a time; warm-up {o['warmup']}; client {o['client']}"
    )
    print(
        f"{'config':<22} {'people':>6} {'turns':>6} {'turns/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'1-person p50 ms':>16} {'CPU ms/turn':>12}"
    )
    for r in results:
        p = percentiles_ms(r.latencies)
        print(
            f"{r.name:<22} {r.people:>6} {r.turns:>6} {r.turns_per_s:>9.1f} {p['p50_ms']:>8.2f} "
            f"{p['p95_ms']:>8.2f} {p['p99_ms']:>8.2f} {r.single_p50_ms:>16.2f} "
            f"{r.cpu_ms_per_turn:>12.2f}"
        )
    print(
        "(CPU ms/turn: process CPU of all threads, i.e. bot + fake connector + simulated people, "
        "per timed turn)"
    )
    ratios = facts["ratio_impact_over_echo"]
    if ratios:
        listed = ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
        print(f"ratio impact-bot/echo: {listed}   (target >= {TARGET_RATIO:.1f})")
    target = facts["target"]
    print(
        f"target (ratio >= {TARGET_RATIO:.1f} and 1-person p50 < {TARGET_SINGLE_P50_MS:.0f} ms): "
        f"{'met' if target['met'] else 'NOT met'}"
    )
    checks = [(r.key, r.data_check) for r in results if r.data_check is not None]
    if checks:
        parts = [
            f"{c.passed}/{c.people} people have {c.expected_answers} answers ({key})"
            for key, c in checks
        ]
        print("data check: " + ", ".join(parts) + "  [levels match what was sent]")
        for key, c in checks:
            for problem in c.problems[:10]:
                print(f"  {key}: {problem}")
    for r in results:
        if r.bookkeeping_ms is not None:
            p50 = r.single_p50_ms
            print(
                f"TeamsUser.press bookkeeping ({r.key}): {r.bookkeeping_ms:.3f} ms per press "
                f"({r.bookkeeping_ms / p50 * 100:.1f}% of the 1-person p50)"
            )


# ---- main -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--people", type=int, default=20, help="concurrent people (default 20)")
    parser.add_argument(
        "--answers-per-person", type=int, default=22, help="turns per person (default 22)"
    )
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="impact-bot databases (comma-separated)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="only impact-bot on SQLite, under pyinstrument (artifacts/profile-answer.html)",
    )
    parser.add_argument("--profile-lines", type=int, default=40, help="text report lines shown")
    parser.add_argument(
        "--client",
        choices=["teamsuser", "lean"],
        default="teamsuser",
        help="teamsuser: TeamsUser.say/press; lean: post a prebuilt activity (default teamsuser)",
    )
    parser.add_argument("--single-people", type=int, default=3, help="for the 1-person p50")
    parser.add_argument("--warmup-people", type=int, default=2)
    parser.add_argument("--warmup-turns", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.people < 1 or args.answers_per_person < 1 or args.single_people < 1:
        parser.error("--people, --answers-per-person and --single-people must be at least 1")
    args.warmup_turns = min(args.warmup_turns, args.answers_per_person)
    return args


async def run(args: argparse.Namespace) -> int:
    options = Options(
        people=args.people,
        turns=args.answers_per_person,
        single_people=args.single_people,
        warmup_people=args.warmup_people,
        warmup_turns=args.warmup_turns,
        lean=args.client == "lean",
        seed=args.seed,
    )
    say: Callable[[str], None] = (lambda text: print(text, file=sys.stderr)) if args.json else print
    started = machine()
    results: list[ConfigResult] = []
    try:
        if args.profile:
            result, report = await run_impact("sqlite", options, profile=True)
            results.append(result)
        else:
            report = None
            say("running: echo bot (bare SDK) ...")
            results.append(await run_echo(options))
            for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
                say(f"running: impact-bot {backend} ...")
                results.append((await run_impact(backend, options))[0])
    except SetupError as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 2
    except BenchmarkError as exc:
        print(f"check failed: {exc}", file=sys.stderr)
        return 1

    facts = summary(results, options, started)
    if args.json:
        if args.profile:
            facts["profile_html"] = str(PROFILE_HTML.relative_to(ROOT))
        print(json.dumps(facts, indent=2))
    else:
        print_table(results, facts)
    if report is not None:
        if args.profile and not args.json:
            print("(figures above were taken under the profiler)")
        loop_part, _, db_part = report.partition("\n== database worker thread ==\n")
        out = sys.stderr if args.json else sys.stdout
        print("\n".join(loop_part.splitlines()[: args.profile_lines]), file=out)
        print("== database worker thread ==", file=out)
        print("\n".join(db_part.splitlines()[: args.profile_lines]), file=out)
        print(f"full event-loop profile: {PROFILE_HTML.relative_to(ROOT)}", file=out)
    return 0 if facts["data_check_ok"] else 1


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
