"""The figures of the answer benchmark (benchmarks/answer_roundtrip.py): what each configuration
measured, the ratio to the echo bot against issue 13's target, and the printed table."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.answer_profile import split_line

TARGET_RATIO = 2.5  # impact-bot answers/s over echo turns/s, on every database (issue 13 §6)
TARGET_SINGLE_P50_MS = 10.0


@dataclass
class Options:
    people: int
    turns: int
    single_people: int
    warmup_people: int
    warmup_turns: int
    lean: bool
    seed: int
    client_process: bool = False


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
    # CPU of this process (all threads) during the concurrent phase: bot, database threads, fake
    # connector, and in-process also the people; with --client-process not the people
    cpu_s: float
    latencies: list[float]
    single_latencies: list[float]
    data_check: DataCheck | None = None
    bookkeeping_ms: float | None = None
    client_cpu_s: float | None = None  # --client-process: the people's process
    chats_checked: int | None = None  # --client-process: conversations checked after the run
    cpu_split: dict[str, float] | None = None  # impact-bot: CPU ms/turn per thread (answer_profile)
    cpu_unread: list[str] = field(default_factory=list)  # database threads whose CPU was not read

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
        if self.cpu_split is not None:
            figures["cpu_ms_per_turn_split"] = {k: round(v, 3) for k, v in self.cpu_split.items()}
        if self.client_cpu_s is not None:
            figures["client_cpu_ms_per_turn"] = round(self.client_cpu_s / self.turns * 1000, 3)
            figures["chats_checked"] = self.chats_checked
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


def judged_ratios(ratios_by_repeat: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each database's ratio to the echo bot as judged: the median over the repeats.

    A repeat runs the echo bot and then each database one after another, so a stretch of
    seconds in which something slows this VM falls on some configurations of one repeat (seen
    here: our turns 26-77% dearer in CPU for one run than in the runs just before and after,
    the echo bot's not). The median of three repeats is not moved by one such run; every
    repeat's ratio is printed beside it."""
    keys = [key for key in ratios_by_repeat[0]] if ratios_by_repeat else []
    return {
        key: round(statistics.median(ratios[key] for ratios in ratios_by_repeat), 3) for key in keys
    }


def summary(
    repeats: list[list[ConfigResult]], options: Options, started: dict[str, Any]
) -> dict[str, Any]:
    """The figures of every repeat (a run of each configuration in turn), judged on medians."""
    each: list[dict[str, float]] = []
    for results in repeats:
        echo = next((r for r in results if r.key == "echo"), None)
        if echo is not None:
            each.append({r.key: r.turns_per_s / echo.turns_per_s for r in results if r is not echo})
    ratios = judged_ratios(each)
    impact_keys = [r.key for r in repeats[0] if r.key != "echo"] if repeats else []
    single_p50 = {
        key: statistics.median(r.single_p50_ms for rs in repeats for r in rs if r.key == key)
        for key in impact_keys
    }
    met = bool(impact_keys) and all(
        ratios.get(key, 0) >= TARGET_RATIO and single_p50[key] < TARGET_SINGLE_P50_MS
        for key in impact_keys
    )
    checks = [r.data_check for rs in repeats for r in rs if r.data_check is not None]
    return {
        "machine": started,
        "options": {
            "people": options.people,
            "turns_per_person": options.turns,
            "single_people": options.single_people,
            "warmup": f"{options.warmup_people} people x {options.warmup_turns} turns",
            "client": "lean" if options.lean else "teamsuser",
            "people_in": "a separate process" if options.client_process else "this process",
            "repeats": len(repeats),
        },
        "configs": [
            {**r.as_dict(), "repeat": number}
            for number, results in enumerate(repeats, start=1)
            for r in results
        ],
        "ratio_impact_over_echo": ratios,
        "ratio_each_repeat": {key: [round(e[key], 3) for e in each] for key in ratios},
        "single_person_p50_ms_median": {k: round(v, 3) for k, v in single_p50.items()},
        "target": {
            "ratio_at_least": TARGET_RATIO,
            "single_person_p50_ms_below": TARGET_SINGLE_P50_MS,
            "judged_on": "the median over the repeats",
            "met": met,
        },
        "data_check_ok": all(c.ok for c in checks),
    }


def print_table(repeats: list[list[ConfigResult]], facts: dict[str, Any]) -> None:
    m = facts["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['date']}")
    load = m.get("load_avg_1m_at_start")
    if load is not None:
        busy = "  (busy: other processes share the cores, figures are noisy)" if load > 0.5 else ""
        print(f"load average (1 min) at start: {load:.2f}{busy}")
    o = facts["options"]
    print(
        f"each person: {o['turns_per_person']} turns; 1-person p50 over {o['single_people']} "
        f"people one at a time; warm-up {o['warmup']}; client {o['client']}, people in "
        f"{o['people_in']}; {o['repeats']} repeat(s), each running every configuration in turn"
    )
    results = [r for rs in repeats for r in rs]
    several = len(repeats) > 1
    labelled = [
        (f"{r.key} #{number}" if several else r.key, r)
        for number, rs in enumerate(repeats, start=1)
        for r in rs
    ]
    remote = any(r.client_cpu_s is not None for r in results)
    print(
        f"{'config':<26} {'people':>6} {'turns':>6} {'turns/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'1-person p50 ms':>16} {'CPU ms/turn':>12}"
        + (f" {'client CPU ms/turn':>19}" if remote else "")
    )
    for number, rs in enumerate(repeats, start=1):
        for r in rs:
            p = percentiles_ms(r.latencies)
            client = (
                f" {r.client_cpu_s / r.turns * 1000:>19.2f}" if r.client_cpu_s is not None else ""
            )
            name = f"{r.name} #{number}" if len(repeats) > 1 else r.name
            print(
                f"{name:<26} {r.people:>6} {r.turns:>6} {r.turns_per_s:>9.1f} "
                f"{p['p50_ms']:>8.2f} {p['p95_ms']:>8.2f} {p['p99_ms']:>8.2f} "
                f"{r.single_p50_ms:>16.2f} {r.cpu_ms_per_turn:>12.2f}{client}"
            )
    _print_cpu_note(labelled, remote)
    _print_ratios(facts)
    checks = [(label, r.data_check) for label, r in labelled if r.data_check is not None]
    if checks:
        parts = [
            f"{c.passed}/{c.people} people have {c.expected_answers} answers ({key})"
            for key, c in checks
        ]
        print("data check: " + ", ".join(parts) + "  [levels match what was sent]")
        for key, c in checks:
            for problem in c.problems[:10]:
                print(f"  {key}: {problem}")
    for label, r in labelled:
        if r.bookkeeping_ms is not None:
            p50 = r.single_p50_ms
            print(
                f"TeamsUser.press bookkeeping ({label}): {r.bookkeeping_ms:.3f} ms per press "
                f"({r.bookkeeping_ms / p50 * 100:.1f}% of the 1-person p50)"
            )


def _print_ratios(facts: dict[str, Any]) -> None:
    """Each database's ratio per repeat and the median judged, then the verdict."""
    ratios = facts["ratio_impact_over_echo"]
    if ratios:
        each = facts["ratio_each_repeat"]
        listed = ", ".join(
            f"{k} {v:.2f}" + (f" (repeats: {_joined(each[k])})" if len(each[k]) > 1 else "")
            for k, v in ratios.items()
        )
        print(
            f"ratio impact-bot/echo, median of the repeats: {listed}   "
            f"(target >= {TARGET_RATIO:.1f}, issue 13 §6)"
        )
    target = facts["target"]
    print(
        f"target (median ratio >= {TARGET_RATIO:.1f} on every database and median 1-person p50 "
        f"< {TARGET_SINGLE_P50_MS:.0f} ms): {'met' if target['met'] else 'NOT met'}"
    )


def _joined(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _print_cpu_note(labelled: list[tuple[str, ConfigResult]], remote: bool) -> None:
    """What CPU ms/turn covers in this mode (and, with the people apart, the connector check)."""
    if remote:
        print(
            "(CPU ms/turn: the bot's process, all threads: bot + database threads + fake "
            "connector, per timed turn; the people's own CPU is the client column)"
        )
        checked = ", ".join(f"{r.chats_checked} ({label})" for label, r in labelled)
        print(
            f"connector check after the run: one expected activity per turn in every chat: "
            f"{checked} chats"
        )
    else:
        print(
            "(CPU ms/turn: process CPU of all threads, i.e. bot + fake connector + simulated "
            "people, per timed turn)"
        )
    for label, r in labelled:
        if r.cpu_split is not None:
            print(f"CPU split ({label}): {split_line(r.cpu_split)}")
        if r.cpu_unread:
            unread = ", ".join(r.cpu_unread)
            print(f"  ({label}: the CPU of {unread}, which did database work, was not read)")
