"""The SQLite store: every read and write the server makes. No Flask imports.

Connections are per thread (a WSGI worker thread reuses its own), in WAL mode with a busy
timeout, so readers never block the writer. A submission is written inside one
``BEGIN IMMEDIATE`` transaction (``with store.write():``), so a competing writer waits
for the lock instead of failing half-way; COMMIT happens before the HTTP answer.

Under load, submissions that arrive together share one transaction (``write_batched``: group
commit), each in its own savepoint, so one refused submission leaves the others whole. Writers
queue for the lock on a thread lock and an flock rather than SQLite's sleeping busy handler, and
WAL checkpoints run in a thread of their own, outside the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

from sqlite_utils import Database

from .bench_queries import BenchQueries
from .sqlite_people import PeopleQueries
from .sqlite_review import ReviewQueries
from .sqlite_exports import ExportQueries
from .sqlite_maintenance import MaintenanceQueries
from .sqlite_ranking import RankingQueries
from .sqlite_schema import migrations


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@functools.lru_cache(maxsize=1024)
def _delete_rows_sql(table: str) -> str:
    return f"DELETE FROM {_quote(table)} WHERE _submission_id = ?"


@functools.lru_cache(maxsize=1024)
def _insert_rows_sql(table: str, names: tuple[str, ...]) -> str:
    return f"INSERT INTO {_quote(table)} ({', '.join(map(_quote, names))}) VALUES ({', '.join('?' for _ in names)})"


def _chunks(values: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    """Slices short enough for one IN (...) list."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


T = TypeVar("T")
NAMES_REMEMBERED = 500_000   # list names one process remembers per list before it starts afresh (~50 MB)
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


def _unvalidated(row: Mapping[str, Any]) -> dict:
    """A household row given without a validation: the category that counts is the combined one."""
    return {"combined": row.get("final"), "validated_reason": None}


class SQLiteStore(PeopleQueries, ReviewQueries, ExportQueries, MaintenanceQueries, RankingQueries, BenchQueries):
    """All persistence for one data folder."""

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
            conn.execute("PRAGMA wal_autocheckpoint=0")   # checkpoints run outside the write lock (write())
            conn.execute("PRAGMA temp_store=MEMORY")
            db = Database(conn)
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None

    @contextlib.contextmanager
    def write(self) -> Iterator[Database]:
        """One write transaction that takes the lock up front; nested calls become savepoints."""
        db = self.db
        if db.conn.in_transaction:
            with db.atomic():
                yield db
            return
        with self._writer_turn():
            db.conn.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.conn.in_transaction:
                    db.conn.execute("ROLLBACK")
                raise
            else:
                db.conn.execute("COMMIT")
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
        after this returns has its data on disk as surely as with write(). While one batch is being written
        the next one gathers, so under load many submissions share one COMMIT and one pass over the pages
        they touch; without load a batch is one job and this is write().
        """
        if self.db.conn.in_transaction:
            # Already inside this thread's transaction (a bulk load, a rebuild): the job is part of it, as a
            # savepoint. Joining a batch here could wait for a leader that waits for this thread's lock.
            with self.write():
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
                with self.write():
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
            with self.write():
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
        pending = [m.name for m in migrations.pending(self.db)]
        migrations.apply(self.db)
        return pending

    def integrity_check(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    def ping(self) -> bool:
        return self.db.execute("SELECT 1").fetchone()[0] == 1

    def _one(self, sql: str, params: Sequence | Mapping = ()) -> dict | None:
        cursor = self.db.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([c[0] for c in cursor.description], row))

    def _all(self, sql: str, params: Sequence | Mapping = ()) -> list[dict]:
        cursor = self.db.execute(sql, params)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    # -- projects -----------------------------------------------------------

    def create_project(self, name: str) -> dict:
        with self.write() as db:
            cursor = db.execute("INSERT INTO projects (name, created_at) VALUES (?, ?)", [name, now()])
            return self.get_project(cursor.lastrowid)

    def get_project(self, project_id: int) -> dict | None:
        return self._one("SELECT * FROM projects WHERE id = ?", [project_id])

    def project_by_name(self, name: str) -> dict | None:
        return self._one("SELECT * FROM projects WHERE name = ?", [name])

    def list_projects(self) -> list[dict]:
        return self._all("SELECT * FROM projects ORDER BY id")

    # -- blobs --------------------------------------------------------------

    def put_blob(self, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        self.db.execute("INSERT OR IGNORE INTO blobs (sha256, md5, size, content) VALUES (?, ?, ?, ?)",
                        [sha, hashlib.md5(content).hexdigest(), len(content), content])
        return sha

    def get_blob(self, sha256: str) -> bytes | None:
        row = self.db.execute("SELECT content FROM blobs WHERE sha256 = ?", [sha256]).fetchone()
        return bytes(row[0]) if row else None

    def blob_md5(self, sha256: str) -> str | None:
        row = self.db.execute("SELECT md5 FROM blobs WHERE sha256 = ?", [sha256]).fetchone()
        return row[0] if row else None

    # -- forms --------------------------------------------------------------

    def get_form(self, project_id: int, xml_form_id: str) -> dict | None:
        return self._one("SELECT * FROM forms WHERE project_id = ? AND xml_form_id = ?", [project_id, xml_form_id])

    def list_forms(self, project_id: int) -> list[dict]:
        """Forms with their current definition's version, title and hash, ordered by title."""
        return self._all(
            """SELECT f.id, f.project_id, f.xml_form_id, f.state, f.current_def_id, d.version, d.title, d.hash,
                      d.published_at
               FROM forms f JOIN form_defs d ON d.id = f.current_def_id
               WHERE f.project_id = ? ORDER BY d.title, f.xml_form_id""", [project_id])

    def get_form_def(self, form_id: int, version: str) -> dict | None:
        return self._one("SELECT id, form_id, version, title, hash, published_at FROM form_defs "
                         "WHERE form_id = ? AND version = ?", [form_id, version])

    def get_form_def_by_id(self, def_id: int) -> dict | None:
        return self._one("SELECT id, form_id, version, title, hash, published_at FROM form_defs WHERE id = ?",
                         [def_id])

    def form_def_xml(self, def_id: int) -> bytes:
        row = self.db.execute("SELECT xml FROM form_defs WHERE id = ?", [def_id]).fetchone()
        return bytes(row[0])

    def list_form_defs(self, form_id: int) -> list[dict]:
        return self._all("SELECT id, version, title, hash, published_at, published_by FROM form_defs "
                         "WHERE form_id = ? ORDER BY id", [form_id])

    def add_form_def(self, project_id: int, xml_form_id: str, version: str, title: str, xml: bytes, hash_: str,
                     xlsform: bytes | None, actor: str | None) -> int:
        """Publish a new version and make it current; creates the form on first publish."""
        with self.write() as db:
            form = self.get_form(project_id, xml_form_id)
            if form is None:
                form_id = db.execute("INSERT INTO forms (project_id, xml_form_id, created_at) VALUES (?, ?, ?)",
                                     [project_id, xml_form_id, now()]).lastrowid
            else:
                form_id = form["id"]
            def_id = db.execute(
                "INSERT INTO form_defs (form_id, version, title, xml, hash, xlsform, published_at, published_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [form_id, version, title, xml, hash_, xlsform, now(), actor]).lastrowid
            db.execute("UPDATE forms SET current_def_id = ? WHERE id = ?", [def_id, form_id])
            return def_id

    def set_form_state(self, form_id: int, state: str) -> None:
        with self.write() as db:
            db.execute("UPDATE forms SET state = ? WHERE id = ?", [state, form_id])

    def set_form_attachment(self, def_id: int, name: str, content: bytes) -> None:
        with self.write() as db:
            sha = self.put_blob(content)
            db.execute("INSERT OR REPLACE INTO form_attachments (form_def_id, name, blob_sha256) VALUES (?, ?, ?)",
                       [def_id, name, sha])

    def form_attachments(self, def_id: int) -> dict[str, dict]:
        rows = self._all("SELECT a.name, a.blob_sha256, b.md5, b.size FROM form_attachments a "
                         "JOIN blobs b ON b.sha256 = a.blob_sha256 WHERE a.form_def_id = ?", [def_id])
        return {r["name"]: r for r in rows}

    # -- devices ------------------------------------------------------------

    def create_device(self, project_id: int, name: str, token: str, actor: str | None) -> dict:
        with self.write() as db:
            device_id = db.execute("INSERT INTO devices (project_id, name, token, created_at, created_by) "
                                   "VALUES (?, ?, ?, ?, ?)", [project_id, name, token, now(), actor]).lastrowid
            return self.get_device(device_id)

    def get_device(self, device_id: int) -> dict | None:
        return self._one("SELECT * FROM devices WHERE id = ?", [device_id])

    def device_by_token(self, token: str) -> dict | None:
        return self._one("SELECT * FROM devices WHERE token = ?", [token])

    def list_devices(self, project_id: int | None = None) -> list[dict]:
        if project_id is None:
            return self._all("SELECT * FROM devices ORDER BY id")
        return self._all("SELECT * FROM devices WHERE project_id = ? ORDER BY id", [project_id])

    def revoke_device(self, device_id: int) -> None:
        with self.write() as db:
            db.execute("UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [now(), device_id])

    def touch_device(self, device_id: int) -> None:
        with self.write() as db:
            db.execute("UPDATE devices SET last_seen_at = ? WHERE id = ?", [now(), device_id])

    # -- users --------------------------------------------------------------

    def create_user(self, email: str, role: str, password_hash: str, digest_ha1: str) -> dict:
        with self.write() as db:
            user_id = db.execute("INSERT INTO users (email, role, password_hash, digest_ha1, created_at) "
                                 "VALUES (?, ?, ?, ?, ?)", [email, role, password_hash, digest_ha1, now()]).lastrowid
            return self._one("SELECT * FROM users WHERE id = ?", [user_id])

    def user_by_id(self, user_id: int) -> dict | None:
        return self._one("SELECT * FROM users WHERE id = ? AND disabled_at IS NULL", [user_id])

    def user_by_email(self, email: str) -> dict | None:
        return self._one("SELECT * FROM users WHERE email = ? AND disabled_at IS NULL", [email])

    def count_users(self, role: str | None = None) -> int:
        if role is None:
            return self.db.execute("SELECT count(*) FROM users").fetchone()[0]
        return self.db.execute("SELECT count(*) FROM users WHERE role = ?", [role]).fetchone()[0]

    # -- audit --------------------------------------------------------------

    def audit(self, actor: str | None, action: str, target: str | None = None, details: Any = None) -> None:
        with self.write() as db:
            db.execute("INSERT INTO audit_log (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)",
                       [now(), actor, action, target, json.dumps(details) if details is not None else None])

    def audit_entries(self, action: str | None = None, limit: int = 100) -> list[dict]:
        if action:
            return self._all("SELECT * FROM audit_log WHERE action = ? ORDER BY id DESC LIMIT ?", [action, limit])
        return self._all("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", [limit])

    # -- server-managed lists -----------------------------------------------

    def ensure_list(self, project_id: int, list_name: str, columns: Sequence[str]) -> None:
        """Create the list, or give an existing one the columns a newer release added (at the end, empty for the
        items it holds; the version moves so that phones download the new CSV)."""
        with self.write() as db:
            db.execute("INSERT OR IGNORE INTO lists (project_id, list_name, columns) VALUES (?, ?, ?)",
                       [project_id, list_name, json.dumps(list(columns))])
            stored = json.loads(db.execute("SELECT columns FROM lists WHERE project_id = ? AND list_name = ?",
                                           [project_id, list_name]).fetchone()[0])
            added = [c for c in columns if c not in stored]
            if added:
                db.execute("UPDATE lists SET columns = ?, version = version + 1 WHERE project_id = ? AND list_name = ?",
                           [json.dumps(stored + added), project_id, list_name])

    def list_names(self, project_id: int) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT list_name FROM lists WHERE project_id = ? ORDER BY list_name",
                                              [project_id])]

    def list_columns(self, project_id: int, list_name: str) -> list[str] | None:
        row = self.db.execute("SELECT columns FROM lists WHERE project_id = ? AND list_name = ?",
                              [project_id, list_name]).fetchone()
        return json.loads(row[0]) if row else None

    def upsert_list_items(self, project_id: int, list_name: str, items: Iterable[tuple[str, Mapping]],
                          source: str, replace: bool = False) -> int:
        """Add (or, with replace, update) items; bumps the list version when anything changed."""
        changed = 0
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self.write() as db:
            for name, data in items:
                payload = json.dumps(data, ensure_ascii=False, sort_keys=True)
                if replace:
                    old = db.execute("SELECT data FROM list_items WHERE project_id = ? AND list_name = ? AND name = ?",
                                     [project_id, list_name, name]).fetchone()
                    if old and old[0] == payload:
                        continue
                cursor = db.execute(f"{verb} INTO list_items (project_id, list_name, name, data, source, added_at) "
                                    "VALUES (?, ?, ?, ?, ?, ?)", [project_id, list_name, name, payload, source, now()])
                changed += cursor.rowcount
            if changed:
                db.execute("UPDATE lists SET version = version + 1 WHERE project_id = ? AND list_name = ?",
                           [project_id, list_name])
        return changed

    def list_managed(self, project_id: int, list_name: str) -> bool:
        """Whether the server manages this list (list_version is not None). Lists are never removed, so a yes
        is remembered and costs no query afterwards."""
        key = (project_id, list_name)
        if key in self._managed_lists:
            return True
        if self.list_version(project_id, list_name) is None:
            return False
        self._managed_lists.add(key)
        return True

    def list_version(self, project_id: int, list_name: str) -> int | None:
        row = self.db.execute("SELECT version FROM lists WHERE project_id = ? AND list_name = ?",
                              [project_id, list_name]).fetchone()
        return row[0] if row else None

    def list_items(self, project_id: int, list_name: str) -> Iterator[tuple[str, dict]]:
        cursor = self.db.execute("SELECT name, data FROM list_items WHERE project_id = ? AND list_name = ? "
                                 "ORDER BY rowid", [project_id, list_name])
        for name, data in cursor:
            yield name, json.loads(data)

    def list_item(self, project_id: int, list_name: str, name: str) -> dict | None:
        row = self.db.execute("SELECT data FROM list_items WHERE project_id = ? AND list_name = ? AND name = ?",
                              [project_id, list_name, name]).fetchone()
        return json.loads(row[0]) if row else None

    def list_values(self, project_id: int, list_name: str, column: str) -> frozenset[str]:
        """Every value a list column has held (items are never deleted), cached per list version."""
        version = self.list_version(project_id, list_name)
        if version is None:
            return frozenset()
        key = (project_id, list_name, column, version)
        cached = self._list_cache.get(key)
        if cached is None:
            if column == "name":
                rows = self.db.execute("SELECT name FROM list_items WHERE project_id = ? AND list_name = ?",
                                       [project_id, list_name])
            else:
                rows = self.db.execute("SELECT json_extract(data, '$.' || ?) FROM list_items "
                                       "WHERE project_id = ? AND list_name = ?", [column, project_id, list_name])
            cached = frozenset(str(r[0]) for r in rows if r[0] is not None)
            if len(self._list_cache) > 256:
                self._list_cache.clear()
            self._list_cache[key] = cached
        return cached

    def list_missing(self, project_id: int, list_name: str, column: str, values: set[str]) -> set[str]:
        """The values a list has never held: an indexed lookup for 'name', the cached set otherwise.

        Items are never deleted, so a name once found committed is remembered and costs no query again: the
        cluster, hamlet and household every submission names are looked up once per worker process."""
        if column != "name":
            return set(values) - self.list_values(project_id, list_name, column)
        known = self._names_listed.get((project_id, list_name))
        if known is not None:
            values = {v for v in values if v not in known}
            if not values:
                return set()
        found = self._names_in_list(project_id, list_name, values)
        if found and not self.db.conn.in_transaction:  # only what is committed: a rolled-back insert is no proof
            if known is None or len(known) > NAMES_REMEMBERED:
                known = self._names_listed[(project_id, list_name)] = set()
            known.update(found)
        return set(values) - found

    def _names_in_list(self, project_id: int, list_name: str, values: set[str]) -> set[str]:
        found: set[str] = set()
        ordered = sorted(values)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start:start + 500]
            rows = self.db.execute(f"SELECT name FROM list_items WHERE project_id = ? AND list_name = ? AND name IN "
                                   f"({', '.join('?' for _ in chunk)})", [project_id, list_name, *chunk])
            found.update(r[0] for r in rows)
        return found

    def list_csv(self, project_id: int, list_name: str, render: Callable[[list[str], Iterator[tuple[str, dict]]],
                                                                            bytes]) -> dict | None:
        """The CSV bytes of a list as served to phones, regenerated only when the list changed."""
        row = self._one("SELECT columns, version, csv_version, csv_sha256 FROM lists "
                        "WHERE project_id = ? AND list_name = ?", [project_id, list_name])
        if row is None:
            return None
        if row["csv_version"] != row["version"] or row["csv_sha256"] is None:
            with self.write() as db:
                content = render(json.loads(row["columns"]), self.list_items(project_id, list_name))
                sha = self.put_blob(content)
                db.execute("UPDATE lists SET csv_version = ?, csv_sha256 = ? WHERE project_id = ? AND list_name = ?",
                           [row["version"], sha, project_id, list_name])
                row["csv_sha256"] = sha
        blob = self._one("SELECT sha256, md5, size FROM blobs WHERE sha256 = ?", [row["csv_sha256"]])
        return blob

    def forget_empty_list_csvs(self) -> int:
        """Drop the cached CSV of every list without items, so that it is rendered again: a server before the
        reserved row (lists.render_served) cached a header alone for them. Returns how many were dropped."""
        with self.write() as db:
            return db.execute("UPDATE lists SET csv_sha256 = NULL WHERE csv_sha256 IS NOT NULL AND NOT EXISTS "
                              "(SELECT 1 FROM list_items i WHERE i.project_id = lists.project_id "
                              "AND i.list_name = lists.list_name)").rowcount

    # -- submissions --------------------------------------------------------

    def def_by_instance(self, form_id: int, instance_id: str) -> dict | None:
        return self._one("SELECT d.id, d.submission_id, d.form_def_id, d.instance_id, d.is_current, d.xml, "
                         "s.deleted_at, s.cluster FROM submission_defs d "
                         "JOIN submissions s ON s.id = d.submission_id "
                         "WHERE d.form_id = ? AND d.instance_id = ?", [form_id, instance_id])

    def create_submission(self, project_id: int, form_id: int, instance_id: str) -> int:
        stamp = now()
        return self.db.execute("INSERT INTO submissions (project_id, form_id, instance_id, created_at, updated_at) "
                               "VALUES (?, ?, ?, ?, ?)", [project_id, form_id, instance_id, stamp, stamp]).lastrowid

    def add_submission_def(self, submission_id: int, form_id: int, form_def_id: int, meta: Mapping[str, Any],
                           xml: bytes, first: bool = False) -> int:
        """Store a version of a submission, make it current and the previous one not (first: there is none)."""
        db = self.db
        if not first:
            db.execute("UPDATE submission_defs SET is_current = 0 WHERE submission_id = ? AND is_current = 1",
                       [submission_id])
        def_id = db.execute(
            "INSERT INTO submission_defs (submission_id, form_id, form_def_id, instance_id, deprecated_id, "
            "instance_name, xml, encrypted, device_id, user_id, user_agent, device_ref, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [submission_id, form_id, form_def_id, meta["instance_id"], meta.get("deprecated_id"),
             meta.get("instance_name"), xml, int(bool(meta.get("encrypted"))), meta.get("device_id"),
             meta.get("user_id"), meta.get("user_agent"), meta.get("device_ref"), now()]).lastrowid
        state = "edited" if meta.get("deprecated_id") else "received"
        db.execute("UPDATE submissions SET current_def_id = ?, updated_at = ?, review_state = ? WHERE id = ?",
                   [def_id, now(), state, submission_id])
        return def_id

    def add_attachment_slots(self, def_id: int, names: Iterable[str], client_audit: Iterable[str] = ()) -> None:
        audit = set(client_audit)
        slots = [(def_id, n, int(n in audit)) for n in names]
        if slots:
            self.db.conn.executemany("INSERT OR IGNORE INTO submission_attachments (def_id, name, is_client_audit) "
                                     "VALUES (?, ?, ?)", slots)

    def fill_attachment(self, def_id: int, name: str, content: bytes, content_type: str | None) -> bool:
        """Store a file into its expected slot; False when the submission expects no such file."""
        slot = self.db.execute("SELECT 1 FROM submission_attachments WHERE def_id = ? AND name = ?",
                               [def_id, name]).fetchone()
        if slot is None:
            return False
        sha = self.put_blob(content)
        self.db.execute("UPDATE submission_attachments SET blob_sha256 = ?, content_type = ? "
                        "WHERE def_id = ? AND name = ?", [sha, content_type, def_id, name])
        return True

    def carry_attachments(self, from_def: int, to_def: int) -> None:
        """An edit keeps the earlier version's files for the names it still references and did not resend."""
        self.db.execute(
            "UPDATE submission_attachments AS t SET blob_sha256 = f.blob_sha256, content_type = f.content_type "
            "FROM submission_attachments AS f WHERE t.def_id = ? AND f.def_id = ? AND f.name = t.name "
            "AND t.blob_sha256 IS NULL AND f.blob_sha256 IS NOT NULL", [to_def, from_def])

    def attachments(self, def_id: int) -> list[dict]:
        return self._all("SELECT a.name, a.blob_sha256, a.content_type, a.is_client_audit, b.size, b.md5 "
                         "FROM submission_attachments a LEFT JOIN blobs b ON b.sha256 = a.blob_sha256 "
                         "WHERE a.def_id = ? ORDER BY a.name", [def_id])

    def add_flags(self, def_id: int, flags: Iterable[tuple[str, str]]) -> None:
        rows = [(def_id, code, message) for code, message in flags]
        if rows:
            self.db.conn.executemany("INSERT INTO quality_flags (def_id, code, message) VALUES (?, ?, ?)", rows)

    def flags(self, def_id: int) -> list[dict]:
        return self._all("SELECT code, message FROM quality_flags WHERE def_id = ? ORDER BY id", [def_id])

    def get_submission(self, form_id: int, instance_id: str) -> dict | None:
        """A logical submission by any of its instance IDs, with its current version's metadata."""
        return self._one(
            "SELECT s.id, s.instance_id AS root_instance_id, s.review_state, s.created_at, s.updated_at, "
            "d.id AS def_id, d.instance_id, d.deprecated_id, d.instance_name, d.encrypted, d.device_id, "
            "d.user_agent, d.device_ref, d.received_at, d.form_def_id, fd.version "
            "FROM submissions s JOIN submission_defs d ON d.id = s.current_def_id "
            "JOIN form_defs fd ON fd.id = d.form_def_id "
            "WHERE s.id = (SELECT submission_id FROM submission_defs WHERE form_id = ? AND instance_id = ?)",
            [form_id, instance_id])

    def delete_submission(self, submission_id: int) -> None:
        """Soft-delete: the rows stay, the submission leaves every list, and its instanceIDs cannot return."""
        with self.write() as db:
            db.execute("UPDATE submissions SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                       [now(), submission_id])

    def submission_xml(self, def_id: int) -> bytes:
        return bytes(self.db.execute("SELECT xml FROM submission_defs WHERE id = ?", [def_id]).fetchone()[0])

    def submission_versions(self, submission_id: int) -> list[dict]:
        return self._all("SELECT id, instance_id, deprecated_id, received_at, is_current FROM submission_defs "
                         "WHERE submission_id = ? ORDER BY id", [submission_id])

    def count_submissions(self, form_id: int) -> int:
        return self.db.execute("SELECT count(*) FROM submissions WHERE form_id = ? AND deleted_at IS NULL",
                               [form_id]).fetchone()[0]

    def list_submissions(self, form_id: int, limit: int = 100, after_id: int = 0) -> list[dict]:
        return self._all(
            "SELECT s.id, s.instance_id, s.review_state, s.created_at, d.instance_name, d.id AS def_id "
            "FROM submissions s JOIN submission_defs d ON d.id = s.current_def_id "
            "WHERE s.form_id = ? AND s.id > ? AND s.deleted_at IS NULL ORDER BY s.id LIMIT ?",
            [form_id, after_id, limit])

    # -- typed rows -----------------------------------------------------------

    def ensure_table(self, table: str, columns: Mapping[str, str]) -> None:
        """Create a typed-row table or add the columns a newer form version brought."""
        with self.write() as db:
            existing = {c.name for c in db[table].columns} if db[table].exists() else None
            if existing is None:
                cols = ", ".join(f"{_quote(name)} {sqltype}" for name, sqltype in columns.items())
                db.execute(f"CREATE TABLE {_quote(table)} ({cols})")
                # Only _submission_id: every reader (exports, edits) finds a submission's rows by it. An index on
                # _parent_key (random uuid keys) was read by nothing and cost a random page per row written.
                for index in ("_submission_id",):
                    if index in columns:
                        db.execute(f"CREATE INDEX {_quote(table + '_' + index.strip('_'))} "
                                   f"ON {_quote(table)}({_quote(index)})")
                return
            for name, sqltype in columns.items():
                if name not in existing:
                    db.execute(f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(name)} {sqltype}")

    def replace_rows(self, tables: Iterable[str], submission_id: int,
                     rows: Mapping[str, tuple[Sequence[str], list[Sequence]]]) -> None:
        """Swap a submission's typed rows for those of its current version (inside the caller's transaction).
        rows: table -> (column names, one sequence of values per row in that order)."""
        conn = self.db.conn
        for table in tables:
            conn.execute(_delete_rows_sql(table), (submission_id,))
        for table, (names, table_rows) in rows.items():
            if not table_rows:
                continue
            sql = _insert_rows_sql(table, tuple(names))
            if len(table_rows) == 1:
                conn.execute(sql, table_rows[0])
            else:
                conn.executemany(sql, table_rows)

    def rows(self, table: str, submission_id: int | None = None) -> list[dict]:
        if submission_id is None:
            return self._all(f"SELECT * FROM {_quote(table)} ORDER BY rowid")
        return self._all(f"SELECT * FROM {_quote(table)} WHERE _submission_id = ? ORDER BY rowid", [submission_id])

    def table_exists(self, table: str) -> bool:
        return self.db[table].exists()

    # -- project settings -------------------------------------------------------

    def project_settings(self, project_id: int) -> dict:
        row = self.db.execute("SELECT settings FROM projects WHERE id = ?", [project_id]).fetchone()
        return json.loads(row[0]) if row else {}

    def set_project_settings(self, project_id: int, settings: Mapping[str, Any]) -> None:
        with self.write() as db:
            db.execute("UPDATE projects SET settings = ? WHERE id = ?", [json.dumps(dict(settings)), project_id])

    # -- aggregates: well-being ---------------------------------------------------

    def _swap_facts(self, table: str, project_id: int, submission_id: int, columns: tuple[str, ...],
                    rows: Iterable[Mapping[str, Any]]) -> None:
        """Replace the rows a submission keeps in a fact table (ratings, field households, ...) with `rows`, each
        a mapping of `columns`; project_id and submission_id are added. Runs in the caller's ingest transaction."""
        self.db.execute(f"DELETE FROM {table} WHERE submission_id = ?", [submission_id])
        self.db.conn.executemany(
            f"INSERT OR REPLACE INTO {table} (project_id, submission_id, {', '.join(columns)}) "
            f"VALUES ({', '.join('?' * (len(columns) + 2))})",
            [(project_id, submission_id, *(r[c] for c in columns)) for r in rows])

    def _touched(self, table: str, submission_id: int) -> set[tuple[int, str]]:
        """The (round, household) pairs a submission's rows in `table` name."""
        return {(r, h) for r, h in self.db.execute(f"SELECT round, hh_id FROM {table} WHERE submission_id = ?",
                                                    [submission_id])}

    def replace_wb_ratings(self, project_id: int, submission_id: int, rows: list[dict]) -> set[tuple[int, str]]:
        """Swap a submission's ratings; returns every (round, household) whose combination may change."""
        touched = self._touched("wb_ratings", submission_id)
        self._swap_facts("wb_ratings", project_id, submission_id,
                         ("round", "hh_id", "group_id", "cluster", "hamlet", "level", "pile", "piles"), rows)
        return touched | {(r["round"], r["hh_id"]) for r in rows}

    def wb_ratings_of(self, project_id: int, round_no: int, hh_id: str) -> list[dict]:
        return self._all("SELECT * FROM wb_ratings WHERE project_id = ? AND round = ? AND hh_id = ? "
                         "ORDER BY submission_id", [project_id, round_no, hh_id])

    def wb_ratings_of_many(self, project_id: int, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], list[dict]]:
        """wb_ratings_of for many (round, household) at once: {key: its ratings by submission} (absent: none)."""
        by_round: dict[int, list[str]] = {}
        for round_no, hh_id in keys:
            by_round.setdefault(round_no, []).append(hh_id)
        out: dict[tuple[int, str], list[dict]] = {}
        for round_no, hh_ids in by_round.items():
            for chunk in _chunks(sorted(set(hh_ids))):
                for row in self._all(f"SELECT * FROM wb_ratings WHERE project_id = ? AND round = ? AND hh_id IN "
                                     f"({', '.join('?' * len(chunk))}) ORDER BY submission_id",
                                     [project_id, round_no, *chunk]):
                    out.setdefault((round_no, row["hh_id"]), []).append(row)
        return out

    def wb_ratings(self, project_id: int, round_no: int, cluster: str | None = None,
                   hamlet: str | None = None) -> list[dict]:
        where, params = self._scope(project_id, round_no, cluster, hamlet)
        return self._all(f"SELECT * FROM wb_ratings WHERE {where} ORDER BY hh_id, submission_id", params)

    def set_wb_household(self, project_id: int, round_no: int, hh_id: str, row: Mapping[str, Any] | None) -> None:
        """Write (or remove) a household's combined category and move the counts by the difference."""
        db = self.db
        old = self._one("SELECT * FROM wb_households WHERE project_id = ? AND round = ? AND hh_id = ?",
                        [project_id, round_no, hh_id])
        if old is not None:
            self._wb_count(project_id, old, -1)
            db.execute("DELETE FROM wb_households WHERE project_id = ? AND round = ? AND hh_id = ?",
                       [project_id, round_no, hh_id])
        if row is not None:
            new = {"project_id": project_id, "round": round_no, "hh_id": hh_id, **_unvalidated(row), **row}
            db.execute("INSERT INTO wb_households (project_id, round, hh_id, cluster, hamlet, node, n_groups, mean, "
                       "final, flagged, flags, combined, validated_reason) VALUES (:project_id, :round, :hh_id, "
                       ":cluster, :hamlet, :node, :n_groups, :mean, :final, :flagged, :flags, :combined, "
                       ":validated_reason)", new)
            self._wb_count(project_id, new, +1)

    def set_wb_households(self, project_id: int, items: Sequence[tuple[int, str, Mapping[str, Any] | None]]) -> None:
        """set_wb_household for many distinct (round, household) at once, with the same end state: old rows
        read in one query per round, rows written with executemany, and the count moves summed per scope."""
        conn = self.db.conn
        old: dict[tuple[int, str], dict] = {}
        by_round: dict[int, list[str]] = {}
        for round_no, hh_id, _ in items:
            by_round.setdefault(round_no, []).append(hh_id)
        for round_no, hh_ids in by_round.items():
            for chunk in _chunks(sorted(set(hh_ids))):
                for row in self._all(f"SELECT * FROM wb_households WHERE project_id = ? AND round = ? AND hh_id IN "
                                     f"({', '.join('?' * len(chunk))})", [project_id, round_no, *chunk]):
                    old[(round_no, row["hh_id"])] = row
        moves: dict[tuple, list[int]] = {}

        def move(row: Mapping[str, Any], sign: int) -> None:
            key = (row["round"], row["cluster"] or "", row["hamlet"] or "", row["node"] or "",
                   row["final"] or "unrated")
            total = moves.setdefault(key, [0, 0])
            total[0] += sign
            total[1] += sign * int(bool(row["flagged"]))

        deletes, inserts = [], []
        for round_no, hh_id, row in items:
            previous = old.get((round_no, hh_id))
            if previous is not None:
                move(previous, -1)
                deletes.append((project_id, round_no, hh_id))
            if row is not None:
                new = {"project_id": project_id, "round": round_no, "hh_id": hh_id, **_unvalidated(row), **row}
                inserts.append(new)
                move(new, +1)
        if deletes:
            conn.executemany("DELETE FROM wb_households WHERE project_id = ? AND round = ? AND hh_id = ?", deletes)
        if inserts:
            conn.executemany("INSERT INTO wb_households (project_id, round, hh_id, cluster, hamlet, node, n_groups, "
                             "mean, final, flagged, flags, combined, validated_reason) VALUES (:project_id, :round, "
                             ":hh_id, :cluster, :hamlet, :node, :n_groups, :mean, :final, :flagged, :flags, :combined, "
                             ":validated_reason)", inserts)
        if moves:
            conn.executemany(
                "INSERT INTO wb_counts (project_id, round, cluster, hamlet, node, final, n, n_flagged) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, round, cluster, hamlet, node, final) "
                "DO UPDATE SET n = n + excluded.n, n_flagged = n_flagged + excluded.n_flagged",
                [(project_id, *key, n, n_flagged) for key, (n, n_flagged) in moves.items()])

    def _wb_count(self, project_id: int, row: Mapping[str, Any], sign: int) -> None:
        self.db.execute(
            "INSERT INTO wb_counts (project_id, round, cluster, hamlet, node, final, n, n_flagged) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, round, cluster, hamlet, node, final) "
            "DO UPDATE SET n = n + excluded.n, n_flagged = n_flagged + excluded.n_flagged",
            [project_id, row["round"], row["cluster"] or "", row["hamlet"] or "", row["node"] or "",
             row["final"] or "unrated", sign, sign * int(bool(row["flagged"]))])

    def wb_households(self, project_id: int, round_no: int, cluster: str | None = None,
                      hamlet: str | None = None) -> list[dict]:
        where, params = self._scope(project_id, round_no, cluster, hamlet)
        return self._all(f"SELECT * FROM wb_households WHERE {where} ORDER BY hh_id", params)

    def set_household_node(self, project_id: int, hh_id: str, node: str) -> None:
        """A household's poverty node became known: move its well-being counts to that node, in every round."""
        for row in self._all("SELECT * FROM wb_households WHERE project_id = ? AND hh_id = ? AND node IS NOT ?",
                             [project_id, hh_id, node]):
            self.set_wb_household(project_id, row["round"], hh_id, {**{k: row[k] for k in (
                "cluster", "hamlet", "n_groups", "mean", "final", "flagged", "flags", "combined",
                "validated_reason")}, "node": node})

    def household_node(self, project_id: int, hh_id: str) -> str:
        """The node a household belongs to: from its latest income interview, else from the household list."""
        row = self.db.execute("SELECT node FROM hh_income WHERE project_id = ? AND hh_id = ? AND node IS NOT NULL "
                              "AND node != '' ORDER BY round DESC LIMIT 1", [project_id, hh_id]).fetchone()
        if row:
            return row[0]
        row = self.db.execute("SELECT json_extract(data, '$.node') FROM list_items WHERE project_id = ? "
                              "AND list_name = 'households.csv' AND name = ?", [project_id, hh_id]).fetchone()
        return (row[0] or "") if row else ""

    def household_nodes(self, project_id: int, hh_ids: Iterable[str]) -> dict[str, str]:
        """household_node for many households at once: {hh_id: node}."""
        wanted = sorted(set(hh_ids))
        out: dict[str, str] = {}
        for chunk in _chunks(wanted):
            marks = ", ".join("?" * len(chunk))
            # The node of each household's latest round (the bare column comes from the max(round) row). No
            # ORDER BY: with one, SQLite walks the primary key (project_id, round, ...) of the whole project.
            for hh_id, node, _ in self.db.execute(
                    f"SELECT hh_id, node, max(round) FROM hh_income WHERE project_id = ? AND hh_id IN ({marks}) "
                    f"AND node IS NOT NULL AND node != '' GROUP BY hh_id", [project_id, *chunk]):
                out[hh_id] = node
        rest = [h for h in wanted if h not in out]
        for chunk in _chunks(rest):
            for hh_id, node in self.db.execute(
                    f"SELECT name, json_extract(data, '$.node') FROM list_items WHERE project_id = ? "
                    f"AND list_name = 'households.csv' AND name IN ({', '.join('?' * len(chunk))})",
                    [project_id, *chunk]):
                out[hh_id] = node or ""
        return {h: out.get(h, "") for h in wanted}

    def wb_count_rows(self, project_id: int, round_no: int, cluster: str | None = None, hamlet: str | None = None,
                      node: str | None = None, by: Sequence[str] = ()) -> list[dict]:
        """Summed counts per category, grouped by any of cluster, hamlet, node: no submission is read."""
        where, params = self._scope(project_id, round_no, cluster, hamlet)
        if node is not None:
            where, params = where + " AND node = ?", params + [node]
        groups = [c for c in by if c in {"cluster", "hamlet", "node"}]
        cols = "".join(f"{c}, " for c in groups)
        return self._all(f"SELECT {cols}final, sum(n) AS n, sum(n_flagged) AS n_flagged FROM wb_counts "
                         f"WHERE {where} GROUP BY {cols}final HAVING sum(n) != 0 ORDER BY {cols}final", params)

    def rounds(self, project_id: int, clusters: Iterable[str] | None = None) -> list[int]:
        """The rounds with any counts (in these clusters; None: any), ascending. Each step seeks the next round in
        the primary key (project_id, round, ...), so the cost grows with the number of rounds, not of count rows;
        with clusters, the project's count rows are read (one per round, cluster, hamlet, node and category)."""
        if clusters is not None:
            return self._cluster_rounds(project_id, sorted(clusters))
        found: set[int] = set()
        for table in ("wb_counts", "income_counts"):
            found.update(r[0] for r in self.db.execute(
                f"WITH RECURSIVE step(round) AS (SELECT min(round) FROM {table} WHERE project_id = :p "
                f"UNION ALL SELECT (SELECT min(round) FROM {table} WHERE project_id = :p AND round > step.round) "
                f"FROM step WHERE step.round IS NOT NULL) SELECT round FROM step WHERE round IS NOT NULL",
                {"p": project_id}))
        return sorted(found)

    def _cluster_rounds(self, project_id: int, clusters: list[str]) -> list[int]:
        found: set[int] = set()
        for table in ("wb_counts", "income_counts"):
            for chunk in _chunks(clusters):
                found.update(r[0] for r in self.db.execute(
                    f"SELECT DISTINCT round FROM {table} WHERE project_id = ? "
                    f"AND cluster IN ({', '.join('?' * len(chunk))})", [project_id, *chunk]))
        return sorted(found)

    @staticmethod
    def _scope(project_id: int, round_no: int | None, cluster: str | None, hamlet: str | None
               ) -> tuple[str, list]:
        where, params = ["project_id = ?"], [project_id]
        for column, value in (("round", round_no), ("cluster", cluster), ("hamlet", hamlet)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        return " AND ".join(where), params

    # -- aggregates: household income ------------------------------------------------

    _INCOME_COLUMNS = ("cluster", "hamlet", "node", "state", "sector", "size", "income_monthly", "consumption_monthly",
                       "head_sex", "social_group", "land_class", "line", "line_label", "poor", "gap", "gap2",
                       "neg_income", "income_complete")

    def replace_hh_income(self, project_id: int, submission_id: int, row: Mapping[str, Any] | None) -> set[str]:
        """Swap the income facts a submission contributes; a later interview of the same household and round wins.
        Returns the households whose facts changed."""
        db = self.db
        if row is None:
            old_rows = self._all("SELECT * FROM hh_income WHERE submission_id = ?", [submission_id])
        else:  # one statement, both indexes (SQLite's OR optimisation), each row once
            old_rows = self._all("SELECT * FROM hh_income WHERE submission_id = ? "
                                 "OR (project_id = ? AND hh_id = ? AND round = ?)",
                                 [submission_id, project_id, row["hh_id"], row["round"]])
        for old in old_rows:
            self._income_count(project_id, old, -1)
            db.execute("DELETE FROM hh_income WHERE project_id = ? AND round = ? AND hh_id = ?",
                       [project_id, old["round"], old["hh_id"]])
        if row is not None:
            new = {"project_id": project_id, "submission_id": submission_id, **row}
            names = ["project_id", "round", "hh_id", "submission_id", *self._INCOME_COLUMNS]
            db.execute(f"INSERT INTO hh_income ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})",
                       new)
            self._income_count(project_id, new, +1)
        return {r["hh_id"] for r in old_rows} | ({row["hh_id"]} if row is not None else set())

    def _income_count(self, project_id: int, row: Mapping[str, Any], sign: int) -> None:
        """Move a scope's counts by one household: measured (a line and a complete income), without a line, or left
        out for incomplete income (a line, but an amount not known). Only measured households enter the sums."""
        size, has_line = row["size"], row["line"] is not None
        incomplete = has_line and not row["income_complete"]
        measured = has_line and not incomplete
        if measured:
            self.db.execute(
                "INSERT INTO income_lines (project_id, round, cluster, hamlet, node, line_label, line, n_hh) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, round, cluster, hamlet, node, line_label) "
                "DO UPDATE SET n_hh = n_hh + excluded.n_hh",
                [project_id, row["round"], row["cluster"] or "", row["hamlet"] or "", row["node"] or "",
                 row["line_label"], row["line"], sign])
        poor = row["poor"] or 0
        self.db.execute(
            "INSERT INTO income_counts (project_id, round, cluster, hamlet, node, n_hh, n_persons, n_no_line, "
            "n_incomplete, poor_hh, poor_persons, gap_hh, gap_persons, gap2_hh, gap2_persons) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (project_id, round, cluster, hamlet, node) DO UPDATE SET "
            "n_hh = n_hh + excluded.n_hh, n_persons = n_persons + excluded.n_persons, "
            "n_no_line = n_no_line + excluded.n_no_line, n_incomplete = n_incomplete + excluded.n_incomplete, "
            "poor_hh = poor_hh + excluded.poor_hh, "
            "poor_persons = poor_persons + excluded.poor_persons, gap_hh = gap_hh + excluded.gap_hh, "
            "gap_persons = gap_persons + excluded.gap_persons, gap2_hh = gap2_hh + excluded.gap2_hh, "
            "gap2_persons = gap2_persons + excluded.gap2_persons",
            [project_id, row["round"], row["cluster"] or "", row["hamlet"] or "", row["node"] or "",
             sign * int(measured), sign * size * int(measured), sign * int(not has_line), sign * int(incomplete),
             sign * poor, sign * poor * size, sign * (row["gap"] or 0), sign * (row["gap"] or 0) * size,
             sign * (row["gap2"] or 0), sign * (row["gap2"] or 0) * size])

    def income_count_rows(self, project_id: int, round_no: int, cluster: str | None = None,
                          hamlet: str | None = None, node: str | None = None, by: Sequence[str] = ()) -> list[dict]:
        where, params = self._scope(project_id, round_no, cluster, hamlet)
        if node is not None:
            where, params = where + " AND node = ?", params + [node]
        groups = [c for c in by if c in {"cluster", "hamlet", "node"}]
        cols = "".join(f"{c}, " for c in groups)
        sums = ", ".join(f"sum({c}) AS {c}" for c in ("n_hh", "n_persons", "n_no_line", "n_incomplete", "poor_hh",
                                                      "poor_persons", "gap_hh", "gap_persons", "gap2_hh",
                                                      "gap2_persons"))
        group_by = f" GROUP BY {', '.join(groups)} ORDER BY {', '.join(groups)}" if groups else ""
        return self._all(f"SELECT {cols}{sums} FROM income_counts WHERE {where}{group_by}", params)

    def income_lines_used(self, project_id: int, round_no: int, cluster: str | None = None,
                          hamlet: str | None = None, node: str | None = None) -> list[dict]:
        """The poverty lines a scope's households were measured against, with how many households each."""
        where, params = self._scope(project_id, round_no, cluster, hamlet)
        if node is not None:
            where, params = where + " AND node = ?", params + [node]
        return self._all(f"SELECT line_label, line, sum(n_hh) AS n_hh FROM income_lines WHERE {where} "
                         "GROUP BY line_label, line HAVING sum(n_hh) > 0 ORDER BY line_label", params)

    def hh_income(self, project_id: int, round_no: int | None, cluster: str | None = None,
                  hamlet: str | None = None) -> list[dict]:
        where, params = self._scope(project_id, round_no, cluster, hamlet)
        return self._all(f"SELECT * FROM hh_income WHERE {where} ORDER BY round, hh_id", params)

    # -- aggregates: poverty nodes ------------------------------------------------------

    def replace_node_record(self, project_id: int, submission_id: int, row: Mapping[str, Any] | None) -> None:
        db = self.db
        db.execute("DELETE FROM node_records WHERE submission_id = ?", [submission_id])
        if row is not None:
            db.execute("INSERT OR REPLACE INTO node_records (project_id, round, node_id, submission_id, cluster, data) "
                       "VALUES (?, ?, ?, ?, ?, ?)", [project_id, row["round"], row["node_id"], submission_id,
                                                     row["cluster"], json.dumps(row["data"], default=str)])

    def node_records(self, project_id: int, round_no: int | None = None, cluster: str | None = None) -> list[dict]:
        where, params = self._scope(project_id, round_no, cluster, None)
        rows = self._all(f"SELECT * FROM node_records WHERE {where} ORDER BY cluster, node_id, round", params)
        for row in rows:
            row["data"] = json.loads(row["data"])
        return rows

    # -- rebuild ----------------------------------------------------------------------

    def clear_aggregates(self, project_id: int) -> None:
        with self.write() as db:
            for table in ("wb_ratings", "wb_households", "wb_counts", "hh_income", "income_counts", "income_lines",
                          "node_records", "field_households", "wb_gone", "wb_validated"):
                db.execute(f"DELETE FROM {table} WHERE project_id = ?", [project_id])

    def current_submissions(self, project_id: int, xml_form_id: str) -> Iterator[dict]:
        """Every current, not deleted, not rejected submission of a form, oldest first, with its XML."""
        cursor = self.db.execute(
            "SELECT s.id AS submission_id, d.form_def_id, d.xml FROM submissions s "
            "JOIN forms f ON f.id = s.form_id JOIN submission_defs d ON d.id = s.current_def_id "
            "WHERE s.project_id = ? AND f.xml_form_id = ? AND s.deleted_at IS NULL AND s.review_state != 'rejected' "
            "AND d.encrypted = 0 ORDER BY s.id", [project_id, xml_form_id])
        names = [c[0] for c in cursor.description]
        for row in cursor:
            yield dict(zip(names, row))

    def aggregate_snapshot(self, project_id: int) -> dict[str, list[tuple]]:
        """Every aggregate row of a project, for comparing an incremental state with a rebuild."""
        out = {}
        # counts rows brought to zero by deltas are equal to absent rows; the number is where counts start
        for table, order, counts_from in (("wb_counts", "round, cluster, hamlet, node, final", 6),
                                          ("wb_households", "round, hh_id", 0),
                                          ("income_counts", "round, cluster, hamlet, node", 5),
                                          ("hh_income", "round, hh_id", 0), ("node_records", "round, node_id", 0),
                                          ("field_households", "hh_id, submission_id", 0),
                                          ("wb_gone", "hh_id, submission_id", 0),
                                          ("wb_validated", "round, hh_id, submission_id", 0)):
            rows = self.db.execute(f"SELECT * FROM {table} WHERE project_id = ? ORDER BY {order}", [project_id])
            out[table] = [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows
                          if not counts_from or any(abs(v) > 1e-9 for v in r[counts_from:])]
        return out

    # -- API tokens ---------------------------------------------------------------------

    def create_api_token(self, user_id: int, token_hash: str, label: str | None) -> int:
        with self.write() as db:
            return db.execute("INSERT INTO api_tokens (user_id, token_hash, label, created_at) VALUES (?, ?, ?, ?)",
                              [user_id, token_hash, label, now()]).lastrowid

    def user_by_api_token(self, token_hash: str) -> dict | None:
        return self._one("SELECT u.* FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ? "
                         "AND t.revoked_at IS NULL AND u.disabled_at IS NULL", [token_hash])

    def revoke_api_tokens(self, user_id: int) -> None:
        with self.write() as db:
            db.execute("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                       [now(), user_id])
