"""People's rights over their data (UK GDPR): `my data` and `forget me` in the 1:1 chat,
`impact-bot people export|erase` and `impact-bot audit export`, and the hourly retention job.
All of it walks every feature's personal-data hooks (FeatureContext.personal_data), so a new
feature's tables are exported and erased without a change here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.actions.privacy import ForgetCancelAction, ForgetConfirmAction
from bot.config import Settings
from bot.dialogs.privacy import PrivacyDialog
from bot.registry import CardVerb, FeatureContext, Route, TextCommand
from bot.routes.my_data import my_data_route
from cli.privacy import AUDIT, PEOPLE
from framework.content import Framework
from impact.feature import Feature
from scheduler.work import Handler, JobSpec, ScheduledWork
from store.db import Database
from store.privacy.personal import PRIVACY as PRIVACY_DATA
from store.privacy.retention import RetentionPolicy, purge, unfrozen_closed_rounds
from store.rounds.frozen import results_of_closed_round

log = logging.getLogger(__name__)

RETENTION = "privacy.retention"
RETENTION_EVERY = timedelta(hours=1)


class RetentionJobs:
    """One job, always wanted: delete what is past its retention (store.privacy.retention)."""

    async def desired_jobs(self, now: datetime) -> list[JobSpec]:
        return [JobSpec("privacy:retention", RETENTION, every=RETENTION_EVERY)]


def retention_step(
    db: Database, policy: RetentionPolicy, freeze: Callable[[Session, int, datetime], object]
) -> Handler:
    """The job's handler: everything past its retention at `now`, in one transaction, after
    freezing the results of any old closed round that has none yet (`freeze`), so deleting
    its answers never changes what was published."""

    async def handler(_key: str, now: datetime) -> None:
        cutoff = now - timedelta(days=policy.answer_days)
        for round_id in await db.run(lambda session: unfrozen_closed_rounds(session, cutoff)):
            await db.run(lambda session, rid=round_id: freeze(session, rid, now))  # type: ignore[misc]
        purged = await db.run(lambda session: purge(session, policy, now))
        if any(asdict(purged).values()):
            log.info("retention: %s", asdict(purged))

    return handler


def _freezer(
    settings: Settings, framework: Framework
) -> Callable[[Session, int, datetime], object]:
    options = settings.round_options()

    def freeze(session: Session, round_id: int, now: datetime) -> object:
        return results_of_closed_round(
            session,
            round_id,
            framework=framework,
            min_group=options.min_group,
            min_comment_group=options.min_comment_group,
            now=now,
        )

    return freeze


def _scheduled(ctx: FeatureContext) -> ScheduledWork:
    return ScheduledWork(
        source=RetentionJobs(),
        handlers={
            RETENTION: retention_step(
                ctx.db, ctx.settings.retention_policy(), _freezer(ctx.settings, ctx.framework)
            )
        },
    )


P = PrivacyDialog

PRIVACY = Feature(
    name="privacy",
    dialogs=(PrivacyDialog,),
    commands=(
        TextCommand(
            P.my_data,
            words=("my data",),
            title="my data",
            description="Download everything I store about you",
        ),
        TextCommand(
            P.forget_me,
            words=("forget me", "erase my data", "delete my data"),
            menu=frozenset(),  # Teams' menu holds 12 a scope; the help card lists it
            title="forget me",
            description="Erase everything I store about you (asks first)",
        ),
    ),
    verbs=(
        CardVerb(ForgetConfirmAction, P.on_forget),
        CardVerb(ForgetCancelAction, P.on_keep),
    ),
    jobs=_scheduled,
    routes=(Route("GET", "/my-data/{token}", my_data_route),),
    cli=(PEOPLE, AUDIT),
    personal_data=(PRIVACY_DATA,),
)
