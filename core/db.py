"""The shared declarative base, the engine and sessions.

SQLite is the embedded default, PostgreSQL the production store. On SQLite the driver's own
transaction handling is switched off and every transaction begins IMMEDIATE: pysqlite's
default silently loses read-modify-write updates (measured in dependencies-checked.md §6).

SQLite has one write lock for the whole file, so how long a transaction holds it is what
every other writer waits for. Four tools keep that short and fair:
- `read_scope` opens a deferred, query-only transaction for work that only reads (in WAL a
  reader never blocks a writer), so a job decides what to write before it takes the lock;
- who is waiting decides how long (`waiting_as`): a web request waits at most
  `WEB_BUSY_TIMEOUT_MS`, then answers 503 with Retry-After; a job waits longer;
- the writers of one process queue on a `WriteGate`, web requests first;
- every write transaction's hold is measured (`lock_holds`, and the `bellwether.db.lock`
  logger at DEBUG for holds past `SLOW_HOLD_MS`), per job name or request.

The embedded commerce set (carts, orders, messages, imports, faults: the service Bellwether
probes, not Bellwether itself) wrote about a third of the lock time of a busy `up` into
Bellwether's file. On SQLite its tables (`commerce_*`) therefore live in a file of their own
beside Bellwether's (`commerce_database_url`), with its own engine and write lock: every
session from `make_session_factory` binds those tables to that engine, so the commerce code
and its few callers elsewhere (probe credentials, report project lookups) are unchanged and
never take Bellwether's lock. The file is built by the same migrations (`core.migrate`).
PostgreSQL locks rows, not the database, so there everything stays in one database.
"""

from __future__ import annotations

import importlib
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Every package whose models share the one metadata; Alembic and tests import them all.
MODEL_MODULES = ("core.models", "commerce.models", "probes.models", "alerts.models",
                 "status.models", "reports.models")

SessionFactory = sessionmaker[Session]

lock_log = logging.getLogger("bellwether.db.lock")

#: How long a background job waits for SQLite's write lock before its pass gives up.
JOB_BUSY_TIMEOUT_MS = 10_000
#: How long a web request waits for it; past this the caller gets 503 and Retry-After (issue
#: 15: an API write waits at most 1 s; the CLI, the agents and the drills retry a 503).
WEB_BUSY_TIMEOUT_MS = 1_000
#: Holds at least this long are logged (DEBUG) one by one; all are counted in `lock_holds`.
SLOW_HOLD_MS = 50.0
#: The execution option that makes a SQLite transaction deferred and query-only.
READ_ONLY = "bellwether_read_only"
#: Tables with this prefix are the commerce set's: on SQLite they live in their own file.
COMMERCE_TABLE_PREFIX = "commerce_"

#: Who the current thread's transactions are for: a job's name, "web …", or unset.
_holder: ContextVar[str | None] = ContextVar("bellwether_db_holder", default=None)
#: Whether the current thread waits as a web request (short busy timeout).
_web: ContextVar[bool] = ContextVar("bellwether_db_web", default=False)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite stores them naive, so we re-attach UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; times are aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime()}  # noqa: RUF012 (SQLAlchemy reads a dict)


def import_models() -> MetaData:
    """Import every package's models so the metadata is complete (Alembic, tests)."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata


@dataclass(slots=True)
class LockHolds:
    """Write transactions of one holder: how many, and how long they held and waited."""

    count: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    over_100ms: int = 0
    max_wait_ms: float = 0.0


_holds: dict[str, LockHolds] = {}
_holds_lock = threading.Lock()


def lock_holds() -> dict[str, LockHolds]:
    """A copy of the write-lock figures per holder since start (or `reset_lock_holds`)."""
    with _holds_lock:
        return {name: LockHolds(h.count, h.total_ms, h.max_ms, h.over_100ms, h.max_wait_ms)
                for name, h in _holds.items()}


def reset_lock_holds() -> None:
    with _holds_lock:
        _holds.clear()


def holder() -> str:
    return _holder.get() or threading.current_thread().name


@contextmanager
def holding_as(name: str, *, web: bool = False) -> Iterator[None]:
    """Name this thread's transactions `name` in the lock figures; `web` for a request,
    which waits at most WEB_BUSY_TIMEOUT_MS for the write lock instead of a job's 10 s."""
    name_token, web_token = _holder.set(name), _web.set(web)
    try:
        yield
    finally:
        _holder.reset(name_token)
        _web.reset(web_token)


def mark_web_request(name: str) -> None:
    """For the rest of this request: waits as a web request, counted as `name`
    (`end_web_request` undoes it at teardown: server threads are reused)."""
    _holder.set(name)
    _web.set(True)


def end_web_request() -> None:
    _holder.set(None)
    _web.set(False)


def is_lock_timeout(exc: BaseException) -> bool:
    """Whether `exc` is SQLite's "database is locked/busy": the write lock stayed taken."""
    if not isinstance(exc, OperationalError):
        return False
    text_ = str(exc.orig or exc).lower()
    return "database is locked" in text_ or "database is busy" in text_


def _sqlite_pragmas(dbapi_conn: Any, record: Any) -> None:
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={JOB_BUSY_TIMEOUT_MS}")
    cursor.close()
    record.info.update(query_only=0, busy_timeout=JOB_BUSY_TIMEOUT_MS)


def _set_pragma(conn: Connection, name: str, value: int) -> None:
    """Set a per-connection pragma only when it changes (one statement, rarely)."""
    if conn.info.get(name) != value:
        conn.exec_driver_sql(f"PRAGMA {name}={value}")
        conn.info[name] = value


class WriteGate:
    """One process's queue for SQLite's write lock, web requests first.

    SQLite's busy handler is no queue: waiters poll (sleeping up to 100 ms), and with the
    commerce set, the check writer and the jobs all writing, a request lost for seconds
    (docs/benchmarks.md). In one process the writers wait here instead, on a condition,
    and a waiting web request goes before every job and commerce write that has not
    started. Other processes (a CLI, `bellwether web`) still meet at SQLite's lock.
    The gate is held from BEGIN IMMEDIATE to COMMIT/ROLLBACK, keyed by the connection, and
    let go at the connection's check-in too, so a lost transaction cannot keep it.
    """

    def __init__(self) -> None:
        lock = threading.Lock()
        self._web = threading.Condition(lock)  # two queues on one lock: wake one waiter,
        self._jobs = threading.Condition(lock)  # never the whole crowd, web first
        self._owner: int | None = None
        self._web_waiting = 0

    def acquire(self, owner: int, web: bool, timeout_s: float) -> bool:
        """Take the gate for `owner` (a connection); False after `timeout_s`."""
        with self._web:
            if web:
                self._web_waiting += 1
                try:
                    free = self._web.wait_for(lambda: self._owner is None, timeout_s)
                finally:
                    self._web_waiting -= 1
            else:
                free = self._jobs.wait_for(
                    lambda: self._owner is None and not self._web_waiting, timeout_s)
            if free:
                self._owner = owner
            elif self._owner is None:
                self._wake_next()
            return free

    def release(self, owner: int) -> None:
        with self._web:
            if self._owner == owner:
                self._owner = None
                self._wake_next()

    def _wake_next(self) -> None:
        if self._web_waiting:
            self._web.notify()
        else:
            self._jobs.notify()


def _locked_error() -> OperationalError:
    """What SQLite itself raises when its busy timeout runs out, so one mapping serves."""
    return OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(
        "database is locked"))


def _sqlite_begin(gate: WriteGate, conn: Connection, label: str = "") -> None:
    """Begin IMMEDIATE (the write lock up front), or deferred and query-only for a read
    scope: a deferred transaction that later writes fails at once under contention
    (busy_timeout is not honoured on a read→write upgrade), so a read scope cannot write."""
    read_only = bool(conn.get_execution_options().get(READ_ONLY))
    _set_pragma(conn, "query_only", int(read_only))
    if read_only:
        conn.exec_driver_sql("BEGIN")
        return
    web = _web.get()
    timeout_ms = WEB_BUSY_TIMEOUT_MS if web else JOB_BUSY_TIMEOUT_MS
    _set_pragma(conn, "busy_timeout", timeout_ms)
    asked = time.perf_counter()
    owner = id(conn.info)
    if not gate.acquire(owner, web, timeout_ms / 1000):
        raise _locked_error()
    conn.info["gate"] = (gate, owner)
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        _let_go(conn.info)
        raise
    took = time.perf_counter()
    conn.info["lock_taken"] = (took, (took - asked) * 1000, label + holder())


def _let_go(info: dict[Any, Any]) -> None:
    held = info.pop("gate", None)
    if held is not None:
        held[0].release(held[1])


def _sqlite_end(conn: Connection) -> None:
    """At commit or rollback: let the gate go; record how long the write lock was held."""
    _let_go(conn.info)
    taken = conn.info.pop("lock_taken", None)
    if taken is None:
        return
    at, waited_ms, name = taken
    held_ms = (time.perf_counter() - at) * 1000
    with _holds_lock:
        holds = _holds.setdefault(name, LockHolds())
        holds.count += 1
        holds.total_ms += held_ms
        holds.max_ms = max(holds.max_ms, held_ms)
        holds.over_100ms += held_ms > 100
        holds.max_wait_ms = max(holds.max_wait_ms, waited_ms)
    if held_ms >= SLOW_HOLD_MS:
        lock_log.debug("write lock held %.1f ms by %s (waited %.1f ms)", held_ms, name,
                       waited_ms)


def make_engine(url: str, *, pool_size: int = 10, label: str = "") -> Engine:
    """An engine with the pragmas and pooling each backend needs; connects lazily. On
    SQLite `label` prefixes its holders' names in `lock_holds` (one file's lock from
    another's)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, pool_size=pool_size * 2, max_overflow=pool_size * 4,
                               connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        gate = WriteGate()
        event.listen(engine, "begin", lambda conn: _sqlite_begin(gate, conn, label))
        event.listen(engine, "commit", _sqlite_end)
        event.listen(engine, "rollback", _sqlite_end)
        event.listen(engine.pool, "checkin", lambda _dbapi, record: _let_go(record.info))
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2,
                         pool_pre_ping=True, pool_timeout=10)


def commerce_database_url(url: str) -> str:
    """Where the commerce set's tables live: on SQLite a file beside Bellwether's
    (`bellwether.sqlite` -> `bellwether-commerce.sqlite`), so its writes take a write lock of
    their own; on PostgreSQL (row locks) and for an in-memory SQLite, the same database."""
    parsed = make_url(url)
    path = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or path in ("", ":memory:") \
            or path.startswith("file:"):
        return url
    stem, dot, suffix = path.rpartition(".")
    commerce = f"{stem}-commerce.{suffix}" if dot and "/" not in suffix else f"{path}-commerce"
    return parsed.set(database=commerce).render_as_string(hide_password=False)


#: Bellwether's engine -> the commerce set's engine on its own SQLite file (made once).
_commerce_engines: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_commerce_engines_lock = threading.Lock()


def commerce_engine(engine: Engine) -> Engine:
    """The engine of the commerce tables for Bellwether's `engine`: `engine` itself unless
    it is a SQLite file; disposed together with it."""
    url = engine.url.render_as_string(hide_password=False)
    if commerce_database_url(url) == url:
        return engine
    with _commerce_engines_lock:
        own = _commerce_engines.get(engine)
        if own is None:
            own = make_engine(commerce_database_url(url), label="commerce: ")
            _commerce_engines[engine] = own
            event.listen(engine, "engine_disposed", lambda _conn: own.dispose())
        return own


def _binds(engine: Engine, commerce: Engine) -> dict[Any, Engine]:
    if commerce is engine:
        return {}
    return {table: commerce for name, table in import_models().tables.items()
            if name.startswith(COMMERCE_TABLE_PREFIX)}


def make_session_factory(engine: Engine) -> SessionFactory:
    """Sessions on `engine`, with the commerce tables on their own engine on SQLite."""
    return sessionmaker(bind=engine, binds=_binds(engine, commerce_engine(engine)),
                        expire_on_commit=False)


@contextmanager
def session_scope(factory: SessionFactory) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_scope(factory: SessionFactory) -> Iterator[Session]:
    """A session for work that only reads: on SQLite a deferred, query-only transaction
    that never takes the write lock (a write in it fails at once: "attempt to write a
    readonly database"), so reads that decide what to write happen before BEGIN IMMEDIATE.
    On PostgreSQL a plain transaction (advisory locks work in it). Nothing is committed."""
    bind = factory.kw.get("bind")
    if isinstance(bind, Engine):  # every engine of the session read-only, whichever is used
        binds = factory.kw.get("binds") or {}
        session = factory(bind=_read_only(bind),
                          binds={key: _read_only(engine) for key, engine in binds.items()})
    else:
        session = factory()
        session.connection(execution_options={READ_ONLY: True})
    try:
        yield session
    finally:
        session.close()


_read_only_engines: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def _read_only(engine: Engine) -> Engine:
    """`engine` whose connections begin deferred and query-only (one copy per engine, so a
    session's tables on one engine share one connection)."""
    with _commerce_engines_lock:
        copy = _read_only_engines.get(engine)
        if copy is None:
            copy = engine.execution_options(**{READ_ONLY: True})
            _read_only_engines[engine] = copy
        return copy


def one_write_lock(factory: SessionFactory) -> bool:
    """Whether the factory's database has one write lock for everything (SQLite), so a job
    writes in short transactions and decides in read scopes; PostgreSQL locks rows."""
    bind = factory.kw.get("bind")
    return bind is not None and bind.dialect.name == "sqlite"


def database_kind(url: str) -> str:
    """'sqlite' or 'postgresql', for messages and backend-specific SQL."""
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def try_singleton(session: Session, name: str) -> bool:
    """Whether this transaction may run the one-at-a-time job `name` now.

    On PostgreSQL a transaction-level advisory lock: a second worker skips the pass instead
    of doing the same work twice. SQLite has one writer at a time anyway (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext(:name))"),
                               {"name": f"singleton:{name}"}))
