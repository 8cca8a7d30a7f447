"""The huddle services as the Teams edge and the scheduler use them, built once per service from
the FeatureContext: the ports filled with the edge's implementations (rosters and channels from
bot.teams_reads, cards from bot.cards.huddles.messages, the improvement team as rounds knows
it). The dialogs and the scheduled steps share one roster cache."""

from __future__ import annotations

from dataclasses import dataclass

from bot.cards.huddles.messages import HuddleCards
from bot.registry import FeatureContext
from framework.huddle_formats import HuddleFormats, default_huddle_formats
from huddles.services.access import HuddleAccess
from huddles.services.capture import HuddleCapture
from huddles.services.changes import ItemChanges
from huddles.services.ports import HuddleOptions
from huddles.services.posting import HuddlePoster
from huddles.services.schedules import ScheduleAdmin
from huddles.services.steps import HuddleSteps
from rounds.rules.access import Policy
from rounds.services.improvement_team import ImprovementTeam


@dataclass(frozen=True)
class HuddleServices:
    options: HuddleOptions
    formats: HuddleFormats
    access: HuddleAccess
    admin: ScheduleAdmin
    changes: ItemChanges
    capture: HuddleCapture
    poster: HuddlePoster
    steps: HuddleSteps


_BUILT: dict[int, tuple[FeatureContext, HuddleServices]] = {}
_MAX_BUILT = 8  # one per service (tests build many): bounded, oldest out first


def huddle_services(ctx: FeatureContext) -> HuddleServices:
    """The services for this context (built on first use, then shared)."""
    found = _BUILT.get(id(ctx))
    if found is not None and found[0] is ctx:
        return found[1]
    services = _build(ctx)
    _BUILT.pop(id(ctx), None)
    _BUILT[id(ctx)] = (ctx, services)
    while len(_BUILT) > _MAX_BUILT:
        del _BUILT[next(iter(_BUILT))]
    return services


def _build(ctx: FeatureContext) -> HuddleServices:
    settings, db, clock = ctx.settings, ctx.db, ctx.clock
    options, formats, messages = settings.huddle_options(), default_huddle_formats(), HuddleCards()
    improvement = ImprovementTeam(
        db, Policy.of(settings.admin_ids), ctx.teams, settings.improvement_team_id
    )
    access = HuddleAccess(db, ctx.teams, improvement, clock)
    changes = ItemChanges(db, access, messages, clock, on_queued=ctx.wake_sender)
    poster = HuddlePoster(db, access, formats, messages, on_queued=ctx.wake_sender)
    return HuddleServices(
        options=options,
        formats=formats,
        access=access,
        admin=ScheduleAdmin(db, formats, clock, ctx.teams),
        changes=changes,
        capture=HuddleCapture(db, access, formats, changes, clock, on_queued=ctx.wake_sender),
        poster=poster,
        steps=HuddleSteps(db, access, poster, messages, options, on_queued=ctx.wake_sender),
    )
