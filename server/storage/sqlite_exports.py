"""The SQL behind the researchers' downloads (server/exports.py). Part of the storage layer: the queries are shared
by both engines; SQLiteSnapshot (here) and PostgresSnapshot (postgres_engine.py) supply the connection, the streaming
cursor, the table structure and blob reads.

An export reads through its own connection inside one read transaction (``export_snapshot()``), so:
- the submission table, each repeat table and the media all come from one consistent snapshot of the
  database (SQLite in WAL mode, PostgreSQL in REPEATABLE READ: writers carry on while a download runs);
- a download streamed by a WSGI thread never touches that thread's connection or its write transactions.

Every query yields rows from ``fetchmany`` batches, never lists, and is ordered by submission id (then the
order rows.build wrote them in), so the parent and child tables stream in the same order and a
merge of them needs only one submission in memory.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from typing import Iterator, Sequence

BATCH = 500

# The metadata every submission row carries ahead of its typed columns, in this order.
META_COLUMNS = ("submission_id", "created_at", "review_state", "instance_id", "instance_name", "device_ref",
                "submitter", "form_version", "edits", "attachments_present", "attachments_expected")
_META_SQL = (
    "s.id, s.created_at, s.review_state, d.instance_id, d.instance_name, d.device_ref, "
    "coalesce(dev.name, u.email), fd.version, "
    "(SELECT count(*) - 1 FROM submission_defs e WHERE e.submission_id = s.id), "
    "(SELECT count(*) FROM submission_attachments a WHERE a.def_id = d.id AND a.blob_sha256 IS NOT NULL), "
    "(SELECT count(*) FROM submission_attachments a WHERE a.def_id = d.id)")
_META_JOINS = ("JOIN submission_defs d ON d.id = s.current_def_id JOIN form_defs fd ON fd.id = d.form_def_id "
               "LEFT JOIN devices dev ON dev.id = d.device_id LEFT JOIN users u ON u.id = d.user_id")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class SubmissionFilter:
    """Which submissions of one form an export holds. Deleted submissions never are.

    received_from / received_to compare with submissions.created_at (first receipt, UTC, ISO text such as
    '2026-11-20T04:31:00.000Z'), both inclusive. clusters (the requested clusters already intersected with
    the ones a user may see) and round filter on the typed columns `cluster` and `round`; a form without
    such a column matches nothing when the filter is set, so a restriction never leaks unfiltered data.
    """

    form_id: int                                   # forms.id
    main_table: str                                # data_<project>_<form_id>
    received_from: str | None = None
    received_to: str | None = None
    review_states: frozenset[str] | None = None
    clusters: frozenset[str] | None = None
    round: int | None = None


class ExportSnapshot:
    """One read transaction on a dedicated connection; every method streams. An engine's subclass supplies
    _columns_of, _execute, _stream, blob_chunks, JSON_FIELD and ROW_ORDER."""

    JSON_FIELD: str
    ROW_ORDER: str

    def __init__(self, conn):
        self.conn = conn
        self._columns: dict[str, list[str]] = {}

    # -- structure --------------------------------------------------------------

    def table_columns(self, table: str) -> list[str]:
        """The columns a typed-row table has (empty when it does not exist)."""
        if table not in self._columns:
            self._columns[table] = self._columns_of(table)
        return self._columns[table]

    def _where(self, flt: SubmissionFilter, main_alias: str = "m") -> tuple[str, list] | None:
        """The WHERE clause of a filter, or None when it can match nothing."""
        where, params = ["s.form_id = ?", "s.deleted_at IS NULL"], [flt.form_id]
        if flt.received_from is not None:
            where.append("s.created_at >= ?")
            params.append(flt.received_from)
        if flt.received_to is not None:
            where.append("s.created_at <= ?")
            params.append(flt.received_to)
        if flt.review_states is not None:
            if not flt.review_states:
                return None
            states = sorted(flt.review_states)
            where.append(f"s.review_state IN ({', '.join('?' for _ in states)})")
            params += states
        columns = self.table_columns(flt.main_table)
        if flt.clusters is not None:
            if not flt.clusters or "cluster" not in columns:
                return None
            clusters = sorted(flt.clusters)
            where.append(f"{main_alias}.\"cluster\" IN ({', '.join('?' for _ in clusters)})")
            params += clusters
        if flt.round is not None:
            if "round" not in columns:
                return None
            where.append(f"{main_alias}.\"round\" = ?")
            params.append(flt.round)
        return " AND ".join(where), params

    def _select(self, table: str, alias: str, columns: Sequence[str]) -> str:
        existing = set(self.table_columns(table))
        return ", ".join(f"{alias}.{_quote(c)}" if c in existing else "NULL" for c in columns)


    # -- rows ---------------------------------------------------------------------

    def count(self, flt: SubmissionFilter, table: str | None = None) -> int:
        """How many rows of `table` (default: the submission table) the filter selects."""
        clause = self._where(flt)
        if clause is None or not self.table_columns(flt.main_table):
            return 0
        where, params = clause
        if table is None or table == flt.main_table:
            sql = (f"SELECT count(*) FROM {_quote(flt.main_table)} m JOIN submissions s ON s.id = m._submission_id "
                   f"WHERE {where}")
        else:
            if not self.table_columns(table):
                return 0
            sql = (f"SELECT count(*) FROM {_quote(table)} r JOIN {_quote(flt.main_table)} m "
                   f"ON m._submission_id = r._submission_id JOIN submissions s ON s.id = r._submission_id "
                   f"WHERE {where}")
        return self._execute(sql, params).fetchone()[0]

    def submissions(self, flt: SubmissionFilter, columns: Sequence[str]) -> Iterator[tuple]:
        """One tuple per submission: META_COLUMNS, then `columns` of the submission table (NULL if absent)."""
        clause = self._where(flt)
        if clause is None or not self.table_columns(flt.main_table):
            return
        where, params = clause
        typed = self._select(flt.main_table, "m", columns)
        sql = (f"SELECT {_META_SQL}{', ' + typed if columns else ''} FROM {_quote(flt.main_table)} m "
               f"JOIN submissions s ON s.id = m._submission_id {_META_JOINS} "
               f"WHERE {where} ORDER BY s.id")
        yield from self._stream(sql, params)

    def repeat_rows(self, flt: SubmissionFilter, table: str, columns: Sequence[str]) -> Iterator[tuple]:
        """One tuple per repeat instance: (_submission_id, _key, _parent_key, *columns), by submission, then
        in the order the submission holds them."""
        clause = self._where(flt)
        if clause is None or not self.table_columns(flt.main_table) or not self.table_columns(table):
            return
        where, params = clause
        typed = self._select(table, "r", columns)
        sql = (f"SELECT r._submission_id, r._key, r._parent_key{', ' + typed if columns else ''} "
               f"FROM {_quote(flt.main_table)} m JOIN submissions s ON s.id = m._submission_id "
               f"JOIN {_quote(table)} r ON r._submission_id = m._submission_id "
               f"WHERE {where} ORDER BY s.id, r.{self.ROW_ORDER}")
        yield from self._stream(sql, params)

    def raw_submissions(self, flt: SubmissionFilter) -> Iterator[tuple[int, int, str, bytes]]:
        """(submission_id, def_id, instance_id, xml) of each submission's current version, as received.
        Encrypted submissions have no typed row: they are included unless a cluster or round filter is set."""
        clause = self._where(flt)
        if clause is None:
            return
        where, params = clause
        join = (f"LEFT JOIN {_quote(flt.main_table)} m ON m._submission_id = s.id"
                if self.table_columns(flt.main_table) else "")
        if not join and (flt.clusters is not None or flt.round is not None):
            return
        sql = (f"SELECT s.id, d.id, d.instance_id, d.xml FROM submissions s "
               f"JOIN submission_defs d ON d.id = s.current_def_id {join} WHERE {where} ORDER BY s.id")
        for sid, def_id, instance_id, xml in self._stream(sql, params, batch=50):
            yield sid, def_id, instance_id, bytes(xml)

    def media(self, flt: SubmissionFilter, raw: bool = False) -> Iterator[tuple[int, str, str, str, int]]:
        """(submission_id, instance_id, name, blob sha256, size) of every received attachment of the current
        versions, by submission then name. raw=True selects as raw_submissions does (encrypted included)."""
        clause = self._where(flt)
        if clause is None:
            return
        where, params = clause
        has_main = bool(self.table_columns(flt.main_table))
        if not has_main and (flt.clusters is not None or flt.round is not None):
            return
        if not has_main:
            join = ""
        elif raw:
            join = f"LEFT JOIN {_quote(flt.main_table)} m ON m._submission_id = s.id"
        else:
            join = f"JOIN {_quote(flt.main_table)} m ON m._submission_id = s.id"
        sql = (f"SELECT s.id, d.instance_id, a.name, a.blob_sha256, b.size FROM submissions s "
               f"JOIN submission_defs d ON d.id = s.current_def_id {join} "
               f"JOIN submission_attachments a ON a.def_id = d.id JOIN blobs b ON b.sha256 = a.blob_sha256 "
               f"WHERE {where} ORDER BY s.id, a.name")
        yield from self._stream(sql, params)

    def list_item_field(self, project_id: int, list_name: str, name: str, column: str) -> str | None:
        """One column of one item of a server-managed list (e.g. a cluster's label), or None."""
        if column == "name":
            row = self._execute("SELECT name FROM list_items WHERE project_id = ? AND list_name = ? AND name = ?",
                                [project_id, list_name, name]).fetchone()
        else:
            row = self._execute(f"SELECT {self.JSON_FIELD.format('data')} FROM list_items WHERE project_id = ? "
                                "AND list_name = ? AND name = ?", [column, project_id, list_name, name]).fetchone()
        return None if row is None or row[0] is None else str(row[0])


class SQLiteSnapshot(ExportSnapshot):
    """An export's read transaction on a dedicated SQLite connection."""

    JSON_FIELD = "json_extract({}, '$.' || ?)"
    ROW_ORDER = "rowid"

    def _columns_of(self, table: str) -> list[str]:
        return [r[1] for r in self.conn.execute(f"PRAGMA table_info({_quote(table)})")]

    def _execute(self, sql: str, params: Sequence = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def _stream(self, sql: str, params: Sequence, batch: int = BATCH) -> Iterator[tuple]:
        cursor = self.conn.execute(sql, params)
        try:
            while True:
                rows = cursor.fetchmany(batch)
                if not rows:
                    return
                yield from rows
        finally:
            try:
                cursor.close()
            except sqlite3.ProgrammingError:  # the snapshot ended first (an abandoned download)
                pass

    def blob_chunks(self, sha256: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        """A stored file in chunks, read incrementally (sqlite3 blob I/O), never whole in memory."""
        row = self.conn.execute("SELECT rowid, size FROM blobs WHERE sha256 = ?", [sha256]).fetchone()
        if row is None:
            return
        with self.conn.blobopen("blobs", "content", row[0], readonly=True) as blob:
            while True:
                data = blob.read(chunk)
                if not data:
                    return
                yield data


class ExportQueries:
    """Mixin for SQLiteStore: the read side of downloads (PostgresStore has its own export_snapshot)."""

    path: str
    busy_timeout_ms: int

    @contextlib.contextmanager
    def export_snapshot(self) -> Iterator[ExportSnapshot]:
        """A dedicated read-only connection holding one read transaction for the whole export."""
        conn = sqlite3.connect(self.path, timeout=getattr(self, "busy_timeout_ms", 30_000) / 1000,
                               check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA temp_store = FILE")
            conn.execute("BEGIN")
            yield SQLiteSnapshot(conn)
        finally:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            finally:
                conn.close()
