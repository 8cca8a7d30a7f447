"""Turn ids: 16 hex digits, distinct within a process and across forked processes."""

from __future__ import annotations

import multiprocessing
import re

import pytest

from bot.observability.turns import next_turn_id

pytestmark = pytest.mark.unit


def _child_ids(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put([next_turn_id() for _ in range(3)])


def test_turn_ids_are_sixteen_hex_digits_and_never_repeat_in_a_process() -> None:
    ids = [next_turn_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", turn_id) for turn_id in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_process_draws_its_own_prefix() -> None:
    parent = [next_turn_id() for _ in range(3)]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_ids, args=(queue,))
    child.start()
    child_ids = queue.get(timeout=30)
    child.join(timeout=30)
    assert {turn_id[:8] for turn_id in child_ids} != {parent[0][:8]}
    assert len({turn_id[:8] for turn_id in child_ids}) == 1
    assert not set(child_ids) & set(parent)
