"""The anonymity decision (rounds.rules.anonymity) at trust scale, before and after, side by side.

    .venv/bin/python benchmarks/anonymity_scale.py [--sizes 20,40,80,160,300] [--old-up-to 300]
        [--seed 1] [--profile TEAMS] [--json]

A synthetic trust per size: ``50 x teams`` people (15,000 for 300 teams), each in one team (teams of
about 50), a tenth of them also in a second team; every person has a round role drawn like the real
data (rounds.rules.roles.ROLES, "prefer not to say", or no answer), mapped to a role group by
rounds.rules.results.role_group_of, and about 60% submitted. The decisions are made exactly as
rounds.rules.results.decide_round makes them: the figures over the round, every team and every role
group of every team (min_group 5), and the comments over teams (min_comment_group 10).

For each size it prints the time of ``decide`` and ``decide_comments`` with the current module
("new") and with a frozen copy of the algorithm as it was before the rewrite ("old", below),
the number of groups, and how many teams and role groups are hidden, by reason. Where both ran,
the two decisions are compared and must be identical (exit status 1 otherwise). It does the
same for ``decide(..., rule="linear")`` ("linear"), which must show all that "new" shows.
The old algorithm grows with the cube of the number of teams (some 260 s at 300 teams on a
2-core machine): ``--old-up-to N`` runs it only up to N teams.

``--profile TEAMS`` runs cProfile over the new ``decide`` (and the old one, if TEAMS is at most
``--old-up-to``) for that size and prints the top of each profile, by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make rounds/ importable
    sys.path.insert(0, str(ROOT))

from rounds.rules import anonymity  # noqa: E402
from rounds.rules.anonymity import (  # noqa: E402
    ROUND,
    SUPPRESS_FIRST,
    Disclosure,
    GroupId,
    Reason,
    cells_for_round,
    group_sizes,
    role,
    team,
)
from rounds.rules.results import ROLE_GROUPS, role_group_of  # noqa: E402
from rounds.rules.roles import ROLES, UNDISCLOSED  # noqa: E402

MIN_GROUP = 5
MIN_COMMENT_GROUP = 10
SIZES = (20, 40, 80, 160, 300)

# How often each round role is chosen (by key; None: the role question left unanswered).
ROLE_WEIGHTS: dict[str | None, float] = {
    "board_executive": 0.03,
    "senior_leader_manager": 0.12,
    "frontline_clinical": 0.45,
    "frontline_non_clinical": 0.15,
    "support_corporate": 0.15,
    UNDISCLOSED: 0.05,
    None: 0.05,
}
assert set(ROLE_WEIGHTS) - {None, UNDISCLOSED} == {key for key, _ in ROLES}


# --------------------------------------------------------------------------------------------
# Synthetic trusts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trust:
    teams: tuple[int, ...]
    respondents: dict[tuple[frozenset[int], str | None], int]
    """Submitted people by (their teams, their role group), as store.results counts them."""
    people: int

    def figure_inputs(self) -> tuple[dict[frozenset[GroupId], int], list[GroupId]]:
        """The cells and groups of the figures decision, as rounds.rules.results.decide_round has
        them."""
        groups = [ROUND, *(team(t) for t in self.teams)]
        groups += [role(t, key) for t in self.teams for key in ROLE_GROUPS]
        return cells_for_round(self.respondents), groups

    def comment_inputs(self) -> dict[frozenset[int], int]:
        by_teams: Counter[frozenset[int]] = Counter()
        for (teams, _), n in self.respondents.items():
            by_teams[teams] += n
        return dict(by_teams)


def synthetic_trust(
    teams: int,
    *,
    seed: int = 1,
    people_per_team: int = 50,
    two_team_share: float = 0.1,
    submitted_share: float = 0.6,
) -> Trust:
    """A deterministic trust: `teams` teams, ``people_per_team x teams`` people, a
    `two_team_share` of them in a second team too, a `submitted_share` of them submitted."""
    rng = random.Random(f"{seed}/{teams}")
    team_ids = tuple(range(1, teams + 1))
    roles = list(ROLE_WEIGHTS)
    weights = list(ROLE_WEIGHTS.values())
    people = people_per_team * teams
    respondents: Counter[tuple[frozenset[int], str | None]] = Counter()
    for person in range(people):
        home = team_ids[person % teams]  # teams of people_per_team before the second teams
        member_of = {home}
        if rng.random() < two_team_share:
            member_of.add(rng.choice([t for t in team_ids if t != home]))
        round_role = rng.choices(roles, weights)[0]
        if rng.random() < submitted_share:
            respondents[(frozenset(member_of), role_group_of(round_role))] += 1
    return Trust(team_ids, dict(respondents), people)


# --------------------------------------------------------------------------------------------
# The algorithm before the rewrite, frozen here to compare with (verbatim but for the names)
# --------------------------------------------------------------------------------------------

Cells = Mapping[frozenset[GroupId], int]


def _old_atoms(cells: Cells, shown: Iterable[GroupId]) -> Counter[frozenset[GroupId]]:
    visible = frozenset(shown)
    result: Counter[frozenset[GroupId]] = Counter()
    for members, count in cells.items():
        signature = members & visible
        if signature and count:
            result[signature] += count
    return result


def _old_small_atoms(
    cells: Cells, shown: Iterable[GroupId], min_size: int
) -> list[tuple[frozenset[GroupId], int]]:
    found = [(sig, n) for sig, n in _old_atoms(cells, shown).items() if 0 < n < min_size]
    return sorted(found, key=lambda item: (item[1], sorted(g.sort_key() for g in item[0])))


def _old_without_hidden_teams(shown: set[GroupId]) -> set[GroupId]:
    return {g for g in shown if g.kind != "role" or team(g.team or 0) in shown}


def decide_old(
    cells: Cells,
    *,
    min_size: int,
    groups: Iterable[GroupId] = (),
    suppress_first: Sequence[str] = SUPPRESS_FIRST,
) -> dict[GroupId, Disclosure]:
    """rounds.rules.anonymity.decide before the rewrite (commit 3e71585)."""
    if min_size < 1:
        raise ValueError("min_size must be at least 1")
    sizes = group_sizes(cells)
    every = set(sizes) | set(groups)
    rank = {kind: i for i, kind in enumerate(suppress_first)}

    def order(group: GroupId) -> tuple[int, int, tuple[str, int, str]]:
        return (rank.get(group.kind, len(rank)), sizes[group], group.sort_key())

    too_few = {g for g in every if sizes[g] < min_size}
    shown = _old_without_hidden_teams(every - too_few)

    def safe(candidate: set[GroupId]) -> bool:
        return not _old_small_atoms(cells, candidate, min_size)

    while True:
        small = _old_small_atoms(cells, shown, min_size)
        if not small:
            break
        signature, _ = small[0]
        present = _old_atoms(cells, shown)
        resolving = set()
        for group in shown:
            hidden = shown - _old_without_hidden_teams(shown - {group})
            if signature <= hidden or any(
                other != signature and (signature ^ other) <= hidden for other in present
            ):
                resolving.add(group)
        candidates = resolving or set(signature).union(
            *(
                other - signature
                for other in present
                if signature < other and len(other) == 1 + len(signature)
            )
        )
        victim = min(candidates, key=order)
        shown = _old_without_hidden_teams(shown - {victim})

    changed = True
    while changed:
        changed = False
        for group in sorted(
            every - too_few - shown,
            key=lambda g: (-rank.get(g.kind, 0), -sizes[g], g.sort_key()),
        ):
            trial = _old_without_hidden_teams(shown | {group})
            if group in trial and safe(trial):
                shown = trial
                changed = True

    decisions: dict[GroupId, Disclosure] = {}
    for group in every:
        if group in shown:
            reason = None
        elif group in too_few:
            reason = Reason.TOO_FEW
        elif group.kind == "role" and team(group.team or 0) not in shown:
            reason = Reason.TEAM_HIDDEN
        else:
            reason = Reason.SUBTRACTION
        decisions[group] = Disclosure(n=sizes[group], reason=reason)
    return decisions


def decide_comments_old(
    respondents_by_teams: Mapping[frozenset[int], int],
    *,
    min_size: int,
    teams: Iterable[int] = (),
) -> dict[int, Disclosure]:
    """rounds.rules.anonymity.decide_comments before the rewrite (commit 3e71585)."""
    cells: Counter[frozenset[GroupId]] = Counter()
    for team_ids, count in respondents_by_teams.items():
        cells[frozenset(team(t) for t in team_ids)] += count
    decisions = decide_old(cells, min_size=min_size, groups=[team(t) for t in teams])
    return {g.team: d for g, d in decisions.items() if g.kind == "team" and g.team is not None}


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------

Decide = Callable[..., dict[GroupId, Disclosure]]
DecideComments = Callable[..., dict[int, Disclosure]]


def hidden_counts(decisions: Mapping[GroupId, Disclosure]) -> dict[str, int]:
    """How many groups of each kind are hidden, by reason ("team/subtraction": 12, ...)."""
    counts: Counter[str] = Counter()
    for group, decision in decisions.items():
        if decision.reason is not None:
            counts[f"{group.kind}/{decision.reason.value}"] += 1
    return dict(sorted(counts.items()))


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


@dataclass
class Run:
    seconds: float
    comment_seconds: float
    figures: dict[GroupId, Disclosure]
    comments: dict[int, Disclosure]


def run_one(trust: Trust, decide: Decide, decide_comments: DecideComments) -> Run:
    cells, groups = trust.figure_inputs()
    seconds, figures = _timed(lambda: decide(cells, min_size=MIN_GROUP, groups=groups))
    comment_seconds, comments = _timed(
        lambda: decide_comments(
            trust.comment_inputs(), min_size=MIN_COMMENT_GROUP, teams=trust.teams
        )
    )
    return Run(seconds, comment_seconds, figures, comments)


def profile(trust: Trust, decide: Decide, label: str) -> str:
    cells, groups = trust.figure_inputs()
    profiler = cProfile.Profile()
    profiler.enable()
    decide(cells, min_size=MIN_GROUP, groups=groups)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(14)
    return f"--- cProfile, {label} ---\n" + out.getvalue()


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="numbers of teams")
    parser.add_argument("--old-up-to", type=int, default=max(SIZES), help="run old up to N teams")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=int, default=None, metavar="TEAMS")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]

    rows: list[dict[str, Any]] = []
    status = 0
    for size in sizes:
        trust = synthetic_trust(size, seed=args.seed)
        new = run_one(trust, anonymity.decide, anonymity.decide_comments)
        old = run_one(trust, decide_old, decide_comments_old) if size <= args.old_up_to else None
        same = (
            None if old is None else (old.figures == new.figures and old.comments == new.comments)
        )
        cells, groups = trust.figure_inputs()
        start = time.perf_counter()
        linear = anonymity.decide(cells, min_size=MIN_GROUP, groups=groups, rule="linear")
        linear_seconds = time.perf_counter() - start
        if same is False or any(new.figures[g].shown and not linear[g].shown for g in linear):
            status = 1
        submitted = sum(trust.respondents.values())
        rows.append(
            {
                "teams": size,
                "people": trust.people,
                "submitted": submitted,
                "cells": len(trust.figure_inputs()[0]),
                "groups": len(new.figures),
                "old_decide_s": None if old is None else old.seconds,
                "new_decide_s": new.seconds,
                "old_comments_s": None if old is None else old.comment_seconds,
                "new_comments_s": new.comment_seconds,
                "same": same,
                "linear_decide_s": linear_seconds,
                "linear_hidden": hidden_counts(linear),
                "old_hidden": None if old is None else hidden_counts(old.figures),
                "new_hidden": hidden_counts(new.figures),
                "new_comments_hidden": Counter(
                    d.reason.value for d in new.comments.values() if d.reason
                ),
            }
        )
        if not args.json:
            row = rows[-1]
            if len(rows) == 1:
                print(
                    f"{'teams':>5} {'people':>6} {'groups':>6} {'cells':>5} "
                    f"{'old decide ms':>13} {'new decide ms':>13} "
                    f"{'old comm. ms':>12} {'new comm. ms':>12} {'same':>5} "
                    f"{'linear decide ms':>16}"
                )
            print(
                f"{size:>5} {trust.people:>6} {row['groups']:>6} {row['cells']:>5} "
                f"{_ms(row['old_decide_s']):>13} {_ms(new.seconds):>13} "
                f"{_ms(row['old_comments_s']):>12} {_ms(new.comment_seconds):>12} "
                f"{'-' if same is None else 'yes' if same else 'NO':>5} "
                f"{_ms(linear_seconds):>16}",
                flush=True,
            )
    if args.json:
        print(json.dumps(rows, indent=1, default=dict))
    else:
        print("\nHidden groups by kind/reason (figures, min_group 5):")
        for row in rows:
            print(f"  {row['teams']:>3} teams  old: {row['old_hidden'] or '-'}")
            print(f"  {'':>9}  new: {row['new_hidden']}")
            print(f"  {'':>9}  linear: {row['linear_hidden']}")
            print(f"  {'':>9}  comments (new, min 10): {dict(row['new_comments_hidden'])}")
    if args.profile is not None:
        trust = synthetic_trust(args.profile, seed=args.seed)
        print(profile(trust, anonymity.decide, f"new decide, {args.profile} teams"))
        if args.profile <= args.old_up_to:
            print(profile(trust, decide_old, f"old decide, {args.profile} teams"))
    return status


if __name__ == "__main__":
    sys.exit(main())
