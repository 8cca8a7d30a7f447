"""The database a benchmark runs on, made for the run and removed after it: a SQLite file in a
temporary folder, or a throwaway PostgreSQL database `impact_<label>_<uuid>` created on the
given server (its URL names any database there, e.g. postgresql://postgres@127.0.0.1:5432/test)
and dropped WITH (FORCE) after. The benchmark migrates it (store.schema.upgrade)."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

CONNECT_TIMEOUT_S = 5


class Throwaway:
    """`url` is the database to run on; `drop()` removes it. Creating it raises
    psycopg.OperationalError when the PostgreSQL server can't be reached."""

    def __init__(self, server_url: str | None, label: str) -> None:
        self.server_url = server_url
        self.name = ""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if server_url is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"{label}-")
            self.url = f"sqlite:///{Path(self._tmp.name) / f'{label}.db'}"
        else:
            self.name = f"impact_{label}_{uuid.uuid4().hex[:12]}"
            with self._admin() as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
            base, _, _ = server_url.rpartition("/")
            self.url = f"{base}/{self.name}"

    @property
    def kind(self) -> str:
        """`sqlite` or `postgresql`."""
        return "sqlite" if self.server_url is None else "postgresql"

    @property
    def title(self) -> str:
        """`SQLite` or `PostgreSQL`, for a sentence."""
        return "SQLite" if self.server_url is None else "PostgreSQL"

    def drop(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
        if self.server_url is not None:
            with self._admin() as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.name)
                    )
                )

    def _admin(self) -> psycopg.Connection[TupleRow]:
        assert self.server_url is not None
        return psycopg.connect(self.server_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
