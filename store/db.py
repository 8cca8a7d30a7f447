"""The one database session factory.

The service is asyncio; SQLAlchemy sessions are synchronous. Every unit of work runs as one
transaction on a small dedicated thread pool (`Database.run`), so the event loop never blocks on
the database. On SQLite the pool has one thread: SQLite has one writer anyway, and one thread
means no lock upgrades and no `database is locked` inside the service (other processes, such as
the CLI, wait on the busy timeout). Transactions on SQLite start with BEGIN IMMEDIATE for the
same reason.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 15_000


class DatabaseUnavailable(Exception):
    """The database could not be reached or refused the work; nothing was changed."""


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here (SQLAlchemy's default would be psycopg2)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", ""})


def on_localhost(url: str) -> bool:
    """Whether a database URL names this machine (a Unix socket, localhost or loopback)."""
    try:
        host = make_url(url).host or ""
    except ArgumentError:
        return False
    return host.lower() in LOCAL_HOSTS


def masked_url(url: str) -> str:
    """A database URL with any password replaced by ***, for logs and messages."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "<unparseable database URL>"
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def without_password(text: str, url: str) -> str:
    """`text` (an error's message) with the URL's password, as written or URL-quoted, masked."""
    try:
        password = make_url(url).password
    except ArgumentError:
        return text
    if not password:
        return text
    for form in {str(password), quote(str(password), safe=""), quote_plus(str(password))}:
        text = text.replace(form, "***")
    return text


def create_db_engine(url: str, *, pool_size: int = 8) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            hide_parameters=True,  # an error's message never carries answers or names
        )
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=10,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5, "application_name": "impact-bot"},
        hide_parameters=True,  # an error's message never carries answers or names
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide where transactions begin (SQLAlchemy's recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """Engine + session factory + the thread pool that runs units of work."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = normalise_url(url)
        self.engine = create_db_engine(self.url, pool_size=pool_size)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        workers = 1 if self.is_sqlite else pool_size
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="db")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def run_sync(self, work: Callable[[Session], T]) -> T:
        try:
            with self.session() as session:
                return work(session)
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
            message = without_password(str(exc).splitlines()[0], self.url)
            raise DatabaseUnavailable(message) from exc

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` as one transaction on the database thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self.run_sync, work))

    def dispose(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()
