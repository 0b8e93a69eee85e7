"""The SQLite engine: connections, transactions, group commit, the writer lock file and WAL checkpoints. No SQL
of the application here (that lives in the query modules both engines share); only what SQLite itself needs.

Connections are per thread (a WSGI worker thread reuses its own), in WAL mode with a busy timeout, so readers never
block the writer. A unit of work is one ``BEGIN IMMEDIATE`` transaction (``with store.transaction():``), so a
competing writer waits for the lock instead of failing half-way; COMMIT happens before the HTTP answer.

Under load, submissions that arrive together share one transaction (``write_batched``: group commit), each in its
own savepoint, so one refused submission leaves the others whole. Writers queue for the lock on a thread lock and an
flock rather than SQLite's sleeping busy handler, and WAL checkpoints run in a thread of their own, outside the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

from sqlite_utils import Database

from .base import QueryHelpers, quote
from .sqlite_schema import migrations
from .table_columns import TableColumns

T = TypeVar("T")
CHECKPOINT_EVERY = 64   # commits of one process between WAL checkpoints (a commit holds ~40 pages: ~10 MB of WAL)
WAL_RESET_BYTES = 64 * 1024 * 1024   # a WAL larger than this is emptied between two writes (_reset_wal)
WAL_RESET_WAIT_S = 0.05              # how long _reset_wal waits for readers, holding the writers' turn
WAL_RESET_RETRY_S = 5.0              # after readers kept it from emptying the WAL, the pause before trying again


class _Ticket:
    """One job handed to write_batched, and what became of it."""

    __slots__ = ("job", "value", "error", "done")

    def __init__(self, job: Callable[[], Any]):
        self.job = job
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = False


class SQLiteEngine(TableColumns, QueryHelpers):
    """Connections and transactions on one SQLite file, and the SQLite side of the few dialect hooks."""

    engine = "sqlite"
    # dialect hooks used by the query modules (postgres_engine.py has the PostgreSQL ones)
    JSON_FIELD = "json_extract({}, '$.' || ?)"   # a JSON text column's field named by one parameter, as text
    ROW_ORDER = "rowid"                          # insertion order of a typed-row table's rows
    LIST_ORDER = "rowid"                         # insertion order of list_items
    ROW_ORDER_COLUMN = ""                        # what a new typed-row table adds for ROW_ORDER (rowid: nothing)

    def __init__(self, path: str | Path, synchronous: str = "NORMAL", busy_timeout_ms: int = 30_000):
        self.path = str(path)
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._list_cache: dict[tuple, frozenset[str]] = {}
        self._managed_lists: set[tuple[int, str]] = set()
        self._names_listed: dict[tuple[int, str], set[str]] = {}
        self._commits_since_checkpoint = 0
        self._checkpointer: threading.Thread | None = None
        self._checkpointer_pid = 0
        self._checkpointer_lock = threading.Lock()
        self._checkpoint_due = threading.Event()
        self._wal_reset_not_before = 0.0
        self._thread_writer = threading.Lock()
        self._lock_file: tuple[int, int | None] | None = None
        self._batch_cond = threading.Condition()
        self._batch_queue: list[_Ticket] = []
        self._batch_leader = False
        self._init_columns_cache()

    # -- connections --------------------------------------------------------

    @property
    def db(self) -> Database:
        db = getattr(self._local, "db", None)
        if db is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, check_same_thread=False,
                                   cached_statements=512)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA cache_size=-32000")
            conn.execute("PRAGMA wal_autocheckpoint=0")   # checkpoints run outside the write lock (transaction())
            conn.execute("PRAGMA temp_store=MEMORY")
            db = Database(conn)
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None

    def _execute(self, sql: str, params: Sequence | Mapping = ()) -> sqlite3.Cursor:
        return self.db.conn.execute(sql, params)

    def _executemany(self, sql: str, rows: Iterable[Sequence]) -> None:
        self.db.conn.executemany(sql, rows)

    def _in_transaction(self) -> bool:
        return self.db.conn.in_transaction

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """One unit of work: a write transaction that takes the lock up front (BEGIN IMMEDIATE), committed when the
        block ends and rolled back whole when it raises; nested calls become savepoints."""
        db = self.db
        if db.conn.in_transaction:
            with db.atomic():
                yield db
            return
        with self._writer_turn():
            db.conn.execute("BEGIN IMMEDIATE")
            self._columns_unit_begins()
            try:
                try:
                    yield db
                except BaseException:
                    if db.conn.in_transaction:
                        db.conn.execute("ROLLBACK")
                    raise
                else:
                    db.conn.execute("COMMIT")
            finally:
                self._columns_unit_ends()
        self._checkpoint_now_and_then(db)

    def _checkpoint_now_and_then(self, db: Database) -> None:
        """Copy the WAL back into the database every CHECKPOINT_EVERY commits of this process, in a thread of its
        own. SQLite's automatic checkpoint (turned off on these connections) runs inside COMMIT: every other
        writer waited for its fsyncs, and the request that triggered it answered late."""
        self._commits_since_checkpoint += 1
        if self._commits_since_checkpoint < CHECKPOINT_EVERY:
            return
        self._commits_since_checkpoint = 0
        with self._checkpointer_lock:
            thread = self._checkpointer
            if thread is None or not thread.is_alive() or self._checkpointer_pid != os.getpid():
                self._checkpoint_due.clear()
                self._checkpointer_pid = os.getpid()
                self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="ppa-wal-checkpoint",
                                                      daemon=True)
                self._checkpointer.start()
            self._checkpoint_due.set()

    def _checkpoint_loop(self) -> None:
        """PASSIVE checkpoints when asked; never waits for readers or writers (another process checkpointing
        means this one skips its turn). Ends after a minute without work, closing its connection."""
        conn = None
        try:
            while self._checkpoint_due.wait(60):
                self._checkpoint_due.clear()
                if conn is None:
                    # a short busy timeout: only _reset_wal waits, and never longer than this for readers
                    conn = sqlite3.connect(self.path, timeout=WAL_RESET_WAIT_S, isolation_level=None)
                    conn.execute(f"PRAGMA synchronous={self.synchronous}")
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    if self._wal_bytes() > WAL_RESET_BYTES and time.monotonic() >= self._wal_reset_not_before:
                        if not self._reset_wal(conn):
                            self._wal_reset_not_before = time.monotonic() + WAL_RESET_RETRY_S
                except sqlite3.Error:
                    pass
        finally:
            if conn is not None:
                conn.close()

    def _wal_bytes(self) -> int:
        try:
            return os.path.getsize(self.path + "-wal")
        except OSError:
            return 0

    def _reset_wal(self, conn: sqlite3.Connection) -> bool:
        """Copy the rest of the WAL into the database and empty it, holding the writers' turn meanwhile.

        SQLite starts the WAL afresh only when a write begins after a checkpoint that copied every frame.
        Under steady ingest a PASSIVE checkpoint never catches up with the commits made while it runs, so the
        WAL grew without end (760 MB after 5,500 submissions), and with it the disk used and the cost of reads.
        Between two writes the copy is short (the PASSIVE checkpoints did most of it); a reader still on an
        old snapshot (a long export) makes it give up within WAL_RESET_WAIT_S, and it tries again only after
        WAL_RESET_RETRY_S, so that writers are not held up again and again while that reader lasts. True when the
        WAL was emptied."""
        with self._writer_turn():
            try:
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError:   # SQLITE_BUSY: a reader held on
                return False
        return not busy

    @contextlib.contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """Queue for the write lock without SQLite's busy handler, which sleeps 1, 2, 5, 10... ms between tries.

        Threads of one process queue on a lock; processes (server workers, the CLI) on an flock of
        DATA/ppa.db-writer.lock, which wakes the next writer as soon as the holder is done. SQLite's own
        lock stays the real guard: a writer that skips this (an older process) still waits in busy_timeout.
        """
        with self._thread_writer:
            fd = self._writer_fd()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def _writer_fd(self) -> int | None:
        if self._lock_file is None or self._lock_file[0] != os.getpid():  # a forked worker opens its own
            try:
                fd = os.open(self.path + "-writer.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                fd = None  # a read-only folder: SQLite's busy handler alone
            self._lock_file = (os.getpid(), fd)
        return self._lock_file[1]

    def write_batched(self, job: Callable[[], T]) -> T:
        """Run job in a write transaction shared with the jobs other threads hand in meanwhile (group commit).

        Each job runs in its own savepoint: one that raises is rolled back alone and its exception is raised
        in its own thread. The transaction commits before any job's call returns, so a caller that answers
        after this returns has its data on disk as surely as with transaction(). While one batch is being written
        the next one gathers, so under load many submissions share one COMMIT and one pass over the pages
        they touch; without load a batch is one job and this is transaction().
        """
        if self.db.conn.in_transaction:
            # Already inside this thread's transaction (a bulk load, a rebuild): the job is part of it, as a
            # savepoint. Joining a batch here could wait for a leader that waits for this thread's lock.
            with self.transaction():
                return job()
        ticket = _Ticket(job)
        with self._batch_cond:
            self._batch_queue.append(ticket)
            while not ticket.done and self._batch_leader:
                self._batch_cond.wait()
            if not ticket.done:
                self._batch_leader = True
                batch, self._batch_queue = self._batch_queue, []
        if not ticket.done:
            try:
                self._run_batch(batch)
            finally:
                with self._batch_cond:
                    self._batch_leader = False
                    self._batch_cond.notify_all()
        if ticket.error is not None:
            raise ticket.error
        return ticket.value

    def _run_batch(self, batch: list["_Ticket"]) -> None:
        conn = self.db.conn
        committed = False
        if len(batch) == 1:  # alone, the transaction is the job's savepoint
            ticket = batch[0]
            try:
                with self.transaction():
                    ticket.value = ticket.job()
                committed = True
            except Exception as exc:  # noqa: BLE001 - handed to the job's own thread
                ticket.error = exc
            finally:
                if not committed and ticket.error is None:
                    ticket.error = RuntimeError("the write transaction was interrupted; nothing was stored")
                ticket.done = True
            return
        try:
            with self.transaction():
                for ticket in batch:
                    conn.execute("SAVEPOINT batched_job")
                    try:
                        ticket.value = ticket.job()
                    except Exception as exc:  # noqa: BLE001 - handed to the job's own thread
                        ticket.error = exc
                        if not conn.in_transaction:  # the error ended the transaction: nothing of it holds
                            for other in batch:
                                if other.error is None:
                                    other.error = exc
                            raise
                        conn.execute("ROLLBACK TO batched_job")
                    conn.execute("RELEASE batched_job")
            committed = True
        except Exception as exc:  # noqa: BLE001 - BEGIN or COMMIT failed: no job of the batch is stored
            for ticket in batch:
                if ticket.error is None:
                    ticket.error = exc
        finally:
            for ticket in batch:
                if not committed and ticket.error is None:
                    ticket.error = RuntimeError("the write transaction was interrupted; nothing was stored")
                ticket.done = True

    def migrate(self) -> list[str]:
        """Apply the named migrations not yet applied; returns their names."""
        pending = [m.name for m in migrations.pending(self.db)]
        migrations.apply(self.db)
        return pending

    def integrity_check(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    def ping(self) -> bool:
        return self.db.execute("SELECT 1").fetchone()[0] == 1

    # -- dialect hooks ---------------------------------------------------------------

    def data_tables(self) -> list[str]:
        return [r[0] for r in self.db.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'data\\_%' ESCAPE '\\' ORDER BY name")]

    def _read_table_columns(self, table: str) -> list[str]:
        """The table's columns as the catalogue has them now (table_columns.py caches them)."""
        return [r[1] for r in self.db.conn.execute(f"PRAGMA table_info({quote(table)})")]

    @staticmethod
    def _column_type(sqltype: str) -> str:
        """The column type to declare for one of the schema's types (INTEGER, TEXT, REAL, BLOB)."""
        return sqltype

    def _latest_nodes_sql(self, n: int) -> str:
        """hh_id, node of each of n households' latest round with a node, from hh_income (n `?` after project_id).
        SQLite takes the bare column node from the max(round) row; no ORDER BY: with one, SQLite walks the
        primary key (project_id, round, ...) of the whole project."""
        return (f"SELECT hh_id, node, max(round) FROM hh_income WHERE project_id = ? "
                f"AND hh_id IN ({', '.join('?' * n)}) AND node IS NOT NULL AND node != '' GROUP BY hh_id")
