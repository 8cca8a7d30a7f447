"""The trust round of trust_scale.py with two (or more) service processes on one PostgreSQL.

    .venv/bin/python benchmarks/trust_processes.py --processes 2 \
        [--people 15000] [--teams 300] [--scale 5] \
        [--database-url postgresql://postgres@127.0.0.1:5432/test] [--json]

Each service process is the real service as `impact-bot serve` runs it: impact.service.create_app
with its background work (the outbox sender and the scheduler), on the same throwaway database,
with Teams' limits times `--scale` in its settings and IMPACT_SERVICE_PROCESSES set to
`--processes`, so that each sender keeps to its share of them. The scheduler of neither process
leads: this process holds the leader lock, and the round steps run once, in the first service
process (as its scheduler would run them, waking its own sender; the others' senders find the
rows on their next poll), when this process asks for each step over a benchmark-only route.

The fake Bot Connector and the answering person are trust_scale.py's, in their own processes; the
person's turns alternate between the service processes (one person on one, the next on the
other). The phases, the figures and their targets are trust_scale.py's; duplicates, losses and
limit violations are counted by the fake across every process's sends, and the peak RSS is given
for each process. The longest transaction is the first process's (the round steps and its
share of the answers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import sqlalchemy as sa
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make bot/, store/, tests/ importable
    sys.path.insert(0, str(ROOT))

from benchmarks import trust_scale as scale  # noqa: E402
from benchmarks.throwaway import Throwaway  # noqa: E402
from impact.features.rounds import round_steps  # noqa: E402
from impact.service import CONTEXT_KEY, create_app  # noqa: E402
from scheduler.leader import LEADER_LOCK_KEY  # noqa: E402
from store.db import Database  # noqa: E402
from store.outbox import OutboxMessage  # noqa: E402
from store.rounds.lifecycle import RoundSpec, create_round  # noqa: E402
from store.rounds.results import compute_round_results  # noqa: E402
from store.rounds.tables import RoundParticipant  # noqa: E402
from store.schema import upgrade  # noqa: E402
from tests.fakes.loopback import serve  # noqa: E402

SCRIPT = Path(__file__).resolve()


# -- one service process ----------------------------------------------------------------------


async def serve_service(args: argparse.Namespace) -> None:
    """The service with its background work; in the first process, the round steps on
    POST /bench/step (this benchmark's stand-in for the scheduler's leader)."""
    settings = scale.service_settings(
        args.database_url,
        args.processes,
        args.scale,
        public_url=scale.CHARTS_URL if args.charts else "",
    )
    db = Database(settings.database_url)
    transactions = scale.Transactions()
    transactions.watch(db.engine)
    app = create_app(settings, db=db, background=True)
    steps = round_steps(app[CONTEXT_KEY])

    async def step(request: web.Request) -> web.Response:
        asked = await request.json()
        transactions.phase = asked["phase"]
        now = datetime.fromisoformat(asked["now"])
        started = time.perf_counter()
        value: Any = None
        if asked["step"] == "open":
            value = await steps.open_due(now)
        elif asked["step"] == "nudge":
            value = await steps.nudge_due(now)
        elif asked["step"] == "close":
            value = await steps.close_due(now)
        elif asked["step"] == "results":
            results = await db.read(
                lambda s: compute_round_results(
                    s, asked["round"], framework=scale.FRAMEWORK, min_group=5, min_comment_group=10
                )
            )
            value = hidden_by_rule(results)
        return web.json_response({"seconds": time.perf_counter() - started, "value": value})

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(
            {
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "longest": transactions.longest,
                "longest_what": transactions.longest_what,
                "over_50ms": transactions.over_50ms,
            }
        )

    if args.index == 0:
        app.router.add_post("/bench/step", step)
    app.router.add_get("/bench/stats", stats)
    runner, url = await serve(app)
    print(json.dumps({"url": url}), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()  # the background work stops: sends in flight finished and recorded
    db.dispose()


def hidden_by_rule(results: Any) -> dict[str, int]:
    hidden: Counter[str] = Counter()
    for team in results.teams:
        hidden[f"team {team.figures.reason.value if team.figures.reason else 'shown'}"] += 1
        for group in team.role_groups:
            hidden[f"role group {group.reason.value if group.reason else 'shown'}"] += 1
    return dict(sorted(hidden.items()))


# -- this process: the leader's stand-in and the measurements ---------------------------------


class Services:
    def __init__(self, args: argparse.Namespace, database_url: str, fake_url: str) -> None:
        self.procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(SCRIPT),
                    "--serve-service",
                    "--index",
                    str(i),
                    "--processes",
                    str(args.processes),
                    "--scale",
                    str(args.scale),
                    "--database-url",
                    database_url,
                    "--charts" if args.charts else "--no-charts",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(args.processes)
        ]
        self.urls: list[str] = []
        for proc in self.procs:
            assert proc.stdout is not None
            self.urls.append(json.loads(proc.stdout.readline())["url"])
        self.fake_url = fake_url

    async def step(self, name: str, now: datetime, phase: str, **more: Any) -> dict[str, Any]:
        body = {"step": name, "now": now.isoformat(), "phase": phase, **more}
        timeout = aiohttp.ClientTimeout(total=1800)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(f"{self.urls[0]}/bench/step", json=body) as response,
        ):
            response.raise_for_status()
            result: dict[str, Any] = await response.json()
            return result

    async def stats(self) -> list[dict[str, Any]]:
        found = []
        async with aiohttp.ClientSession() as session:
            for url in self.urls:
                async with session.get(f"{url}/bench/stats") as response:
                    found.append(await response.json())
        return found

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


async def install_and_create(services: Services, db: Database, teams: int) -> int:
    """The bot added to each team (as Teams tells it), and the round."""
    async with aiohttp.ClientSession() as session:
        for t in range(teams):
            await session.post(f"{services.urls[0]}/api/messages", json=scale._activity(
                0, services.fake_url, scale.TENANT, type="conversationUpdate",
                membersAdded=[{"id": scale.BOT_ID}],
                conversation={"id": scale.team_channel(t), "conversationType": "channel",
                              "isGroup": True, "tenantId": scale.TENANT},
                channelData={"tenant": {"id": scale.TENANT}, "eventType": "teamMemberAdded",
                             "team": {"id": scale.team_channel(t), "name": f"Team {t:03d}"}},
            ))  # fmt: skip
    spec = RoundSpec(
        "Whole trust", tuple(scale.team_channel(t) for t in range(teams)), scale.OPENS,
        scale.OPENS + timedelta(days=14), "3d,7d,last-day", role_question=True,
    )  # fmt: skip
    created = db.run_sync(
        lambda s: (
            create_round(s, spec, framework=scale.FRAMEWORK, actor="bench", now=scale.OPENS).id
        )
    )
    assert created is not None
    return created


async def run(
    args: argparse.Namespace, services: Services, db: Database, control: str
) -> dict[str, Any]:
    round_id = await install_and_create(services, db, args.teams)
    samples = Path(tempfile.mkstemp(prefix="answers-", suffix=".txt")[1])
    client = await asyncio.create_subprocess_exec(
        *[sys.executable, str(scale.__file__), "--answer-client", "--bot-url",
          ",".join(services.urls), "--fake-url", services.fake_url, "--control", control,
          "--samples", str(samples), "--think", str(args.think)],
    )  # fmt: skip
    phases: list[tuple[str, float, float]] = []
    timings: dict[str, Any] = {}
    for _ in range(600):  # 1. idle, from the first answer on
        if await asyncio.to_thread(lambda: samples.stat().st_size > 0):
            break
        await asyncio.sleep(0.1)
    began = time.time()
    await asyncio.sleep(args.idle_seconds)
    phases.append(("idle", began, time.time()))

    began = time.time()  # 2. open -> everyone invited
    before = await scale.stats_of(control)
    t0 = time.perf_counter()
    await services.step("open", datetime.now(UTC), "open")
    timings["open_queued_s"] = time.perf_counter() - t0
    while True:
        if not await scale.pending(db, "invitation"):
            break
        await asyncio.sleep(0.25)
    timings["open_s"] = time.perf_counter() - t0
    phases.append(("open", began, time.time()))
    after = await scale.stats_of(control)
    requests = Counter(after["requests"]) - Counter(before["requests"])
    timings["open_requests"] = dict(requests)
    timings["open_minimum_s"] = sum(requests.values()) / (scale.TENANT_PER_SECOND * args.scale)
    received = after["received_per_user"]
    participants = db.run_sync(
        lambda s: s.execute(sa.select(sa.func.count()).select_from(RoundParticipant)).scalar_one()
    )
    timings["participants"] = participants
    timings["duplicates"] = sum(1 for n in received.values() if n > 1)
    timings["losses"] = participants - sum(1 for n in received.values() if n >= 1)
    timings["violations"] = after["violations"] - before["violations"]

    timings["submitted"] = await scale.submit_sixty_percent(db, round_id, 0.6, args.seed)
    await asyncio.sleep(2.0)  # 3. 60% submitted (not timed)

    began = time.time()  # 4. ticks with nobody due
    idle_ticks = []
    for minute in range(5):
        done = await services.step(
            "nudge", scale.OPENS + timedelta(hours=2, minutes=minute), "idle tick"
        )
        idle_ticks.append(done["seconds"])
        await asyncio.sleep(0.5)
    timings["idle_tick_s"] = (statistics.median(idle_ticks), max(idle_ticks))
    phases.append(("idle tick", began, time.time()))

    began = time.time()  # 5. the tick at the first reminder
    done = await services.step("nudge", scale.FIRST_REMINDER, "nudge tick")
    timings["nudged"], timings["nudge_tick_s"] = done["value"], done["seconds"]
    phases.append(("nudge tick", began, time.time()))

    began = time.time()  # 6. close
    done = await services.step("close", scale.OPENS + timedelta(days=14, minutes=1), "close")
    timings["close_s"] = done["seconds"]
    phases.append(("close", began, time.time()))
    done = await services.step("results", datetime.now(UTC), "after", round=round_id)
    timings["results_s"], timings["hidden"] = done["seconds"], done["value"]
    timings["summaries"] = db.run_sync(
        lambda s: s.execute(
            sa.select(sa.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == "summary")  # type: ignore[arg-type]
        ).scalar_one()
    )
    await asyncio.sleep(1.0)
    client.send_signal(signal.SIGTERM)
    await asyncio.wait_for(client.wait(), 30)
    await finish(timings, services, control, samples, phases)
    return timings


async def finish(
    timings: dict[str, Any],
    services: Services,
    control: str,
    samples: Path,
    phases: list[tuple[str, float, float]],
) -> None:
    """The answers' latencies by phase, each process's peak RSS, the first's transactions."""
    answers = await asyncio.to_thread(scale.read_samples, samples)
    by_phase: dict[str, list[float]] = {}
    for name, start, end in phases:
        by_phase[name] = [latency for t, latency, _ok in answers if start <= t <= end]
    busy = [x for name, xs in by_phase.items() if name != "idle" for x in xs]
    timings["answers"] = {
        name: scale._percentiles(xs) for name, xs in {**by_phase, "all steps": busy}.items()
    }
    timings["answers_failed"] = sum(1 for _t, _l, ok in answers if not ok)
    timings["slowest_answers"] = scale.slowest_answers(answers, phases)
    found = await services.stats()
    timings["write_transaction_longest_s"] = found[0]["longest"]
    timings["write_transaction_longest_first_statement"] = found[0]["longest_what"]
    timings["write_transactions_over_50ms"] = found[0]["over_50ms"]
    timings["rss_mb"] = {f"service {i + 1}": s["rss_mb"] for i, s in enumerate(found)}
    timings["rss_mb"]["fake connector"] = (await scale.stats_of(control))["rss_mb"]
    timings["rss_mb"]["answering client"] = (
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    )


def lead(database_url: str) -> psycopg.Connection[Any]:
    """Hold the scheduler's leader lock, so that no service process's scheduler leads."""
    connection = psycopg.connect(database_url, autocommit=True)
    row = connection.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,)).fetchone()
    assert row is not None
    assert row[0], "a fresh database's leader lock is free"
    return connection


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--people", type=int, default=15_000)
    parser.add_argument("--teams", type=int, default=300)
    parser.add_argument("--scale", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "IMPACT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL server (several processes need it)",
    )
    scale.add_idle_seconds(parser)
    parser.add_argument(
        "--charts", action=argparse.BooleanOptionalAction, default=True,
        help="the services draw each shown team's chart at the close (default), as deployed",
    )  # fmt: skip
    parser.add_argument("--think", type=float, default=0.2, help="seconds between answers")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve-service", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args, ignored = parser.parse_known_args(argv)  # `make bench-scale ARGS=...` is for both
    if ignored:
        print(f"trust_processes.py: not used here: {' '.join(ignored)}", file=sys.stderr)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.serve_service:
        asyncio.run(serve_service(args))
        return 0
    logging.getLogger("rounds").setLevel(logging.INFO)
    try:
        database = Throwaway(args.database_url, "trust")
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL not reachable: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    fake = subprocess.Popen(
        [sys.executable, str(scale.__file__), "--serve-fake", "--people", str(args.people),
         "--teams", str(args.teams), "--scale", str(args.scale), "--seed", str(args.seed)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    services: Services | None = None
    leader: psycopg.Connection[Any] | None = None
    db: Database | None = None
    try:
        assert fake.stdout is not None
        where = json.loads(fake.stdout.readline())
        db = Database(database.url)
        upgrade(db.engine)
        leader = lead(database.url)
        services = Services(args, database.url, where["url"])
        result = asyncio.run(run(args, services, db, where["control"]))
    finally:
        if services is not None:
            services.stop()
        if leader is not None:
            leader.close()
        if db is not None:
            db.dispose()
        fake.terminate()
        fake.wait(timeout=10)
        database.drop()
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    kind = f"PostgreSQL, {args.processes} service processes"
    return 0 if scale.report(args, kind, result) else 1


if __name__ == "__main__":
    sys.exit(main())
