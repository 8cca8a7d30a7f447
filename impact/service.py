"""The composition root of the service: settings, database, Teams adapter, every feature's
dialogs, routes and scheduled work, wired into one aiohttp application. Nothing imports this
module but the entry point (impact.main) and tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from aiohttp import web
from botbuilder.integration.aiohttp import CloudAdapter

from bot.adapter import build_adapter
from bot.background import Background, Sender
from bot.config import Settings
from bot.gate import TenantGate
from bot.observability.service import watch
from bot.process_tuning import tune_gc_and_gil_for_serving
from bot.registry import FeatureContext
from bot.router import Dispatch, ImpactBot
from bot.sender.budget_link import BudgetServer
from bot.sender.limits import RateLimiter, RateLimits
from bot.sender.outbox_sender import OutboxSender
from bot.sender.process import SenderProcess
from bot.teams_reads import TeamsDirectory
from bot.turn_requests import CountTurnRequests
from bot.turns import TurnsInFlight
from bot.web import turn_error_handler, web_app
from framework.content import Framework, default_framework
from impact.feature import Feature
from impact.features import FEATURES
from store.db import Database
from store.process_reads import ProcessReads
from store.types import utcnow

CONTEXT_KEY = web.AppKey("context", FeatureContext)
# The process's one budget of requests to Teams: its outbox sender, its Teams reads and its turns'
# replies count in it, and so must a sender built beside the app (benchmarks, tests):
# OutboxSender(limiter=...).
LIMITER_KEY = web.AppKey("teams_limiter", RateLimiter)


def teams_limiter(settings: Settings) -> RateLimiter:
    """This process's share of Teams' limits, as its settings give them."""
    return RateLimiter(RateLimits.from_settings(settings).shared(1.0 / settings.service_processes))


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    framework: Framework | None = None,
    clock: Callable[[], datetime] = utcnow,
    background: bool = False,
    features: Sequence[Feature] = FEATURES,
) -> web.Application:
    """The service. With `background`, also the outbox sender and (while leading) the scheduler,
    as `impact-bot serve` runs it; tests drive those directly instead."""
    database = db or Database(settings.database_url)
    database.lock_holds.report = True  # a long hold of SQLite's write lock is logged
    adapter = build_adapter(settings)
    adapter.on_turn_error = turn_error_handler
    limiter = teams_limiter(settings)
    adapter.use(TenantGate(settings.allowed_tenants, limiter))  # its notices count in the budget
    turns = TurnsInFlight()  # the sender gives way to the turns in flight
    adapter.use(CountTurnRequests(limiter))  # a turn's replies go first in the one budget
    sender = _sender(settings, database, clock, limiter, turns) if background else None
    ctx = _feature_context(
        settings,
        database,
        framework or default_framework(),
        clock,
        adapter,
        sender,
        features,
        limiter,
        turns,
    )
    bot = ImpactBot(database, dispatch(ctx, features))
    routes = [(r.method, r.path, r.build(ctx)) for f in features for r in f.routes]
    app = web_app(adapter, bot, database, routes, turns)
    app[CONTEXT_KEY] = ctx
    app[LIMITER_KEY] = limiter
    work = _background(app, ctx, sender, features) if sender is not None else None
    leader = work.leader if work is not None else None
    watch(
        app,
        adapter,
        settings,
        database,
        clock=clock,
        known_verbs={verb.verb for feature in features for verb in feature.verbs},
        is_leader=lambda: leader is not None and leader.is_leader,
    )
    if ctx.process_reads is not None:
        app.on_cleanup.append(_reads_closer(ctx.process_reads))
    if db is None:  # we made it, we close it
        app.on_cleanup.append(_closer(database))
    app.on_startup.append(_tune_gc_and_gil)
    return app


def _sender(
    settings: Settings,
    database: Database,
    clock: Callable[[], datetime],
    limiter: RateLimiter,
    turns: TurnsInFlight,
) -> Sender:
    """The outbox sender: in a child process that asks this one's `limiter` for each request
    (bot/sender/process.py), unless the settings say otherwise or no other process can open the
    database (in-memory SQLite); else in this process, counting in the same `limiter`. Either
    way it gives way to the turns in flight."""
    if settings.sender_process and ProcessReads.available(database.url):
        return SenderProcess(settings, BudgetServer(limiter, give_way=turns.give_way))
    return OutboxSender.from_settings(
        settings,
        database,
        clock=clock,
        share=1.0 / settings.service_processes,
        turns=turns,
        limiter=limiter,
    )


def _reads_closer(reads: ProcessReads) -> Callable[[web.Application], Awaitable[None]]:
    async def close(_app: web.Application) -> None:
        await asyncio.to_thread(reads.close)  # waits for the worker to exit: not on the loop

    return close


async def _tune_gc_and_gil(_app: web.Application) -> None:
    """Once the service is built, before it serves: see bot.process_tuning (a full garbage
    collection walked some 190,000 startup objects in about 100 ms, stopping every thread, the
    database writer holding SQLite's write lock among them)."""
    tune_gc_and_gil_for_serving()


def _feature_context(
    settings: Settings,
    database: Database,
    framework: Framework,
    clock: Callable[[], datetime],
    adapter: CloudAdapter,
    sender: Sender | None,
    features: Sequence[Feature],
    limiter: RateLimiter,
    turns: TurnsInFlight,
) -> FeatureContext:
    """What every feature is built from; Teams reads count in the process's one `limiter`, the
    sender's too."""
    return FeatureContext(
        settings=settings,
        db=database,
        framework=framework,
        clock=clock,
        teams=TeamsDirectory(adapter, settings.app_id, limiter=limiter),
        wake_sender=sender.wake if sender else (lambda: None),
        personal_data=tuple(d for feature in features for d in feature.personal_data),
        give_way=turns.give_way,  # the round steps give way to turns, as the sender does
        process_reads=(
            ProcessReads(
                database.url, preload=["rounds.services.steps", "bot.cards.rounds.messages"]
            )
            if ProcessReads.available(database.url)
            else None
        ),
    )


def _background(
    app: web.Application, ctx: FeatureContext, sender: Sender, features: Sequence[Feature]
) -> Background:
    """The outbox sender and every feature's jobs, started and stopped with the application."""
    settings = ctx.settings
    work = Background(
        ctx.db,
        sender,
        [f.jobs(ctx) for f in features if f.jobs is not None],
        database_url=settings.database_url,
        reconcile_seconds=settings.reconcile_seconds,
        clock=ctx.clock,
    )
    app.on_startup.append(work.start)
    app.on_cleanup.append(work.stop)
    if ctx.process_reads is not None:
        app.on_startup.append(worker_starter(ctx.process_reads))
    return work


def worker_starter(reads: ProcessReads) -> Callable[[web.Application], Awaitable[None]]:
    """A startup hook that starts the worker process in the background (`start_soon`): the
    service that runs the scheduler will need it within a minute (a nudge tick, an opening),
    and its start is best paid before anyone is answering."""

    async def start(_app: web.Application) -> None:
        reads.start_soon()

    return start


def dispatch(ctx: FeatureContext, features: Sequence[Feature]) -> Dispatch:
    """Every feature's dialogs built once, and their commands and verbs bound to them."""
    table = Dispatch()
    for feature in features:
        dialogs = {factory: factory(ctx) for factory in feature.dialogs}
        for command in feature.commands:
            table.add_commands(dialogs[feature.dialog_for(command.handle)], [command])
        for verb in feature.verbs:
            table.add_verbs(dialogs[feature.dialog_for(verb.handle)], [verb])
        if feature.fallback is not None:
            dialog = dialogs[feature.dialog_for(feature.fallback)]
            table.set_fallback(getattr(dialog, feature.fallback.__name__))
        if feature.welcome is not None:
            dialog = dialogs[feature.dialog_for(feature.welcome)]
            table.set_welcome(getattr(dialog, feature.welcome.__name__))
        recover = None
        if feature.recover is not None:
            dialog = dialogs[feature.dialog_for(feature.recover)]
            recover = getattr(dialog, feature.recover.__name__)
        table.add_recovery(recover, [verb.verb for verb in feature.verbs])
        if feature.holds_card is not None and recover is not None:
            dialog = dialogs[feature.dialog_for(feature.holds_card)]
            holds = getattr(dialog, feature.holds_card.__name__)
            table.add_keeper(holds, recover)
    return table


def _closer(db: Database) -> Callable[[web.Application], Awaitable[None]]:
    async def close(_app: web.Application) -> None:
        db.dispose()

    return close
