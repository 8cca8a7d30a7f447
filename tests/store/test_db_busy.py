"""SQLite: the writer's BEGIN IMMEDIATE waits for another process's write lock by trying again
often (store.db.begin_immediate), not in SQLite's busy handler, whose sleeps grow to 100 ms."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from store.db import _Abandoned, begin_immediate

pytestmark = pytest.mark.service


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA busy_timeout=15000")
    return connection


def test_the_lock_is_taken_as_soon_as_another_process_lets_it_go(tmp_path: Path) -> None:
    other, ours = _connect(tmp_path / "db"), _connect(tmp_path / "db")
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.05, lambda: other.execute("ROLLBACK")).start()
    started = time.monotonic()
    begin_immediate(ours)
    waited = time.monotonic() - started
    ours.execute("ROLLBACK")
    assert waited >= 0.045
    # the transaction's statements wait as before: the busy timeout is back
    assert ours.execute("PRAGMA busy_timeout").fetchone() == (15000,)


def test_a_write_given_up_on_stops_waiting_at_once(tmp_path: Path) -> None:
    other, ours = _connect(tmp_path / "db"), _connect(tmp_path / "db")
    other.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(_Abandoned):
        begin_immediate(ours, given_up=lambda: time.monotonic() > started + 0.05)
    assert time.monotonic() - started < 1.0  # SQLite's handler held on for the busy timeout
    assert ours.execute("PRAGMA busy_timeout").fetchone() == (15000,)
    other.execute("ROLLBACK")


def test_a_lock_held_past_the_busy_timeout_is_database_is_locked(tmp_path: Path) -> None:
    other, ours = _connect(tmp_path / "db"), _connect(tmp_path / "db")
    other.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        begin_immediate(ours, busy_ms=100)
    assert 0.09 <= time.monotonic() - started < 2.0
    other.execute("ROLLBACK")
    begin_immediate(ours)
    ours.execute("COMMIT")
