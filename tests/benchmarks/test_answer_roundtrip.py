"""The answer benchmark (benchmarks/answer_roundtrip.py) at a tiny size: it runs in both modes,
its figures come with passed checks, and its checks fail when the bot does the wrong thing.
No timings are asserted: those belong to the benchmark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from benchmarks import answer_roundtrip
from benchmarks.answer_client import conversation_problems, person_specs
from benchmarks.answer_figures import Options, judged_ratios
from benchmarks.answer_people import BenchmarkError, echo_text
from benchmarks.answer_roundtrip import main, measure_client_process
from tests.conftest import BACKENDS, REQUIRE_POSTGRES
from tests.fakes.connector import FakeConnector

SMALL = ["--answers-per-person", "3", "--single-people", "1", "--warmup-people", "1"]
SMALL += ["--warmup-turns", "2"]
TINY = [*SMALL, "--people", "2", "--backends", "sqlite", "--json", "--repeats", "1"]


@pytest.mark.service
@pytest.mark.parametrize(
    "mode", [[], ["--client-process"], ["--client-process", "--client", "lean"]]
)
def test_the_benchmark_runs_with_its_checks_passed(
    mode: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*TINY, *mode]) == 0
    facts = json.loads(capsys.readouterr().out)
    echo, sqlite = facts["configs"]
    assert [echo["key"], sqlite["key"]] == ["echo", "sqlite"]
    assert echo["turns"] == sqlite["turns"] == 2 * 3
    assert sqlite["data_check"] == {
        "expected_answers": 3,
        "people": 3,  # the single person and the two at once
        "passed": 3,
        "ok": True,
        "problems": [],
    }
    assert facts["target"]["ratio_at_least"] == 2.5
    split = sqlite["cpu_ms_per_turn_split"]
    assert split["database_threads_read"] == 1  # SQLite: one worker thread
    assert split["event_loop_thread"] > 0
    assert split["database_threads"] > 0
    parts = split["event_loop_thread"] + split["database_threads"] + split["other_threads"]
    assert parts == pytest.approx(split["process"], abs=0.01)
    assert split["process"] == pytest.approx(sqlite["cpu_ms_per_turn"], abs=0.05)
    if mode:
        assert facts["options"]["people_in"] == "a separate process"
        assert echo["chats_checked"] == sqlite["chats_checked"] == 1 + 1 + 2
        assert sqlite["client_cpu_ms_per_turn"] > 0
    else:
        assert "chats_checked" not in sqlite


@pytest.mark.service
@pytest.mark.parametrize("backend", [b for b in ("sqlite", "postgresql") if b in BACKENDS])
@pytest.mark.parametrize("mode", [[], ["--client-process"]])
def test_the_profile_covers_the_loop_and_every_database_thread(
    backend: str,
    mode: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    html = tmp_path / f"profile-answer-{backend}.html"
    monkeypatch.setattr(answer_roundtrip, "profile_html", lambda _backend: html)
    code = main([*SMALL, "--people", "6", "--backends", backend, "--profile", *mode])
    out = capsys.readouterr().out
    if code == 2 and backend == "postgresql" and not REQUIRE_POSTGRES:
        pytest.skip("PostgreSQL not reachable")
    assert code == 0
    assert html.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html>")
    assert "echo bot" not in out  # the profile runs impact-bot only
    assert f"==== impact-bot {backend} ====" in out
    assert "CPU in the concurrent phase, under the profiler" in out
    assert "= event-loop thread" in out
    loop, _, workers = out.partition("== database worker threads, ")
    assert "ImpactBot.on_invoke_activity" in loop
    profiled = int(workers.split(" merged")[0])
    assert profiled >= (2 if backend == "postgresql" else 1)  # PostgreSQL: a pool of threads
    assert "AssessmentStore.act" in workers
    assert "NOT profiled" not in out


@pytest.mark.service
def test_every_repeat_runs_every_configuration_and_the_median_ratio_is_judged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*TINY[:-1], "3"]) == 0
    facts = json.loads(capsys.readouterr().out)
    keys = [(c["repeat"], c["key"]) for c in facts["configs"]]
    assert keys == [
        (1, "echo"),
        (1, "sqlite"),
        (2, "echo"),
        (2, "sqlite"),
        (3, "echo"),
        (3, "sqlite"),
    ]
    by_repeat: dict[int, dict[str, float]] = {c["repeat"]: {} for c in facts["configs"]}
    for config in facts["configs"]:
        by_repeat[config["repeat"]][config["key"]] = config["turns_per_s"]
    each = [figures["sqlite"] / figures["echo"] for figures in by_repeat.values()]
    assert facts["ratio_each_repeat"]["sqlite"] == pytest.approx(each, rel=0.01)
    assert facts["ratio_impact_over_echo"]["sqlite"] == pytest.approx(sorted(each)[1], rel=0.01)
    assert facts["options"]["repeats"] == 3
    assert all(c["data_check"]["ok"] for c in facts["configs"] if c["key"] == "sqlite")


@pytest.mark.unit
def test_one_slow_repeat_does_not_decide_the_ratio() -> None:
    judged = judged_ratios(
        [{"sqlite": 3.9, "postgresql": 3.1}, {"sqlite": 2.4, "postgresql": 1.9},
         {"sqlite": 4.0, "postgresql": 3.0}]
    )  # fmt: skip
    assert judged == {"sqlite": 3.9, "postgresql": 3.0}
    assert judged_ratios([{"sqlite": 2.4}]) == {"sqlite": 2.4}


def _wrong_echo_app() -> web.Application:
    """A bot that answers every message with the same wrong text."""

    async def messages(request: web.Request) -> web.Response:
        activity: dict[str, Any] = await request.json()
        cid, aid = activity["conversation"]["id"], activity["id"]
        url = f"{activity['serviceUrl']}v3/conversations/{cid}/activities/{aid}"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json={"type": "message", "text": "not what you said"}) as response,
        ):
            assert response.status == 201
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app


@pytest.mark.service
async def test_a_wrong_reply_stops_a_client_process_run() -> None:
    options = Options(
        people=2, turns=2, single_people=1, warmup_people=1, warmup_turns=1, lean=True, seed=1
    )
    options.client_process = True
    with pytest.raises(BenchmarkError, match="not what you said"):
        await measure_client_process("wrong", "echo", _wrong_echo_app(), None, options)


def _card(first_line: str) -> dict[str, Any]:
    content = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": first_line}]}
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": content}
        ],
    }


def _show(connector: FakeConnector, spec: dict[str, str], activities: list[dict[str, Any]]) -> None:
    state = connector.conversations[spec["conversation_id"]]
    for number, activity in enumerate(activities):
        state.activities[f"1:{number}"] = activity
        state.order.append(f"1:{number}")


@pytest.mark.unit
def test_the_connector_check_after_a_client_process_run_finds_a_wrong_chat() -> None:
    connector = FakeConnector()
    right, missing, wrong = person_specs(connector, 3, "echo")
    _show(
        connector,
        right,
        [{"type": "message", "text": echo_text(n, right["user_id"])} for n in (1, 2)],
    )
    _show(connector, missing, [{"type": "message", "text": echo_text(1, missing["user_id"])}])
    _show(
        connector,
        wrong,
        [{"type": "message", "text": echo_text(n, "someone else")} for n in (1, 2)],
    )
    problems = conversation_problems(connector, [(right, 2), (missing, 2), (wrong, 2)], None)
    assert len(problems) == 2
    assert problems[0].startswith(missing["user_id"])
    assert problems[1].startswith(wrong["user_id"])

    welcome = _card("Welcome")
    good, skipped, extra = person_specs(connector, 3, "impact")
    _show(
        connector,
        good,
        [welcome, _card("Question 1 of 22"), _card("Question 2 of 22"), _card("Question 3 of 22")],
    )
    _show(
        connector,
        skipped,
        [welcome, _card("Question 1 of 22"), _card("Question 3 of 22"), _card("Question 4 of 22")],
    )
    _show(connector, extra, [welcome, *(_card(f"Question {n} of 22") for n in (1, 2, 3, 3))])
    chats = [(good, 2), (skipped, 2), (extra, 2)]
    problems = conversation_problems(connector, chats, 22)
    assert len(problems) == 2
    assert problems[0].startswith(f"{skipped['user_id']} answer 1: next card reads 'Question 3")
    assert problems[1] == f"{extra['user_id']}: 3 activities after question 1, not 2"
