"""Submissions, their versions and attachments, quality flags, and the typed-row tables each form's data goes into.
SQL shared by both engines (a mixin of SQLiteStore and PostgresStore). The writes marked @in_transaction are steps
of one ingest and run only inside the caller's store.transaction() (or write_batched)."""

from __future__ import annotations

import functools
from typing import Any, Iterable, Mapping, Sequence

from .base import in_transaction, now, quote


@functools.lru_cache(maxsize=1024)
def _delete_rows_sql(table: str) -> str:
    return f"DELETE FROM {quote(table)} WHERE _submission_id = ?"


@functools.lru_cache(maxsize=1024)
def _insert_rows_sql(table: str, names: tuple[str, ...]) -> str:
    return f"INSERT INTO {quote(table)} ({', '.join(map(quote, names))}) VALUES ({', '.join('?' for _ in names)})"


class SubmissionQueries:
    """Mixed into both stores; uses the engine's transaction(), _execute(), _executemany() and dialect hooks."""

    # -- submissions --------------------------------------------------------

    def def_by_instance(self, form_id: int, instance_id: str) -> dict | None:
        return self._one("SELECT d.id, d.submission_id, d.form_def_id, d.instance_id, d.is_current, d.xml, "
                         "s.deleted_at, s.cluster FROM submission_defs d "
                         "JOIN submissions s ON s.id = d.submission_id "
                         "WHERE d.form_id = ? AND d.instance_id = ?", [form_id, instance_id])

    @in_transaction
    def create_submission(self, project_id: int, form_id: int, instance_id: str) -> int:
        """A new logical submission (its first version follows with add_submission_def); returns its id."""
        stamp = now()
        return self._scalar("INSERT INTO submissions (project_id, form_id, instance_id, created_at, updated_at) "
                            "VALUES (?, ?, ?, ?, ?) RETURNING id", [project_id, form_id, instance_id, stamp, stamp])

    @in_transaction
    def add_submission_def(self, submission_id: int, form_id: int, form_def_id: int, meta: Mapping[str, Any],
                           xml: bytes, first: bool = False) -> int:
        """Store a version of a submission, make it current and the previous one not (first: there is none)."""
        if not first:
            self._execute("UPDATE submission_defs SET is_current = 0 WHERE submission_id = ? AND is_current = 1",
                       [submission_id])
        def_id = self._scalar(
            "INSERT INTO submission_defs (submission_id, form_id, form_def_id, instance_id, deprecated_id, "
            "instance_name, xml, encrypted, device_id, user_id, user_agent, device_ref, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [submission_id, form_id, form_def_id, meta["instance_id"], meta.get("deprecated_id"),
             meta.get("instance_name"), xml, int(bool(meta.get("encrypted"))), meta.get("device_id"),
             meta.get("user_id"), meta.get("user_agent"), meta.get("device_ref"), now()])
        state = "edited" if meta.get("deprecated_id") else "received"
        self._execute("UPDATE submissions SET current_def_id = ?, updated_at = ?, review_state = ? WHERE id = ?",
                   [def_id, now(), state, submission_id])
        return def_id

    @in_transaction
    def add_attachment_slots(self, def_id: int, names: Iterable[str], client_audit: Iterable[str] = ()) -> None:
        audit = set(client_audit)
        slots = [(def_id, n, int(n in audit)) for n in names]
        if slots:
            self._executemany("INSERT INTO submission_attachments (def_id, name, is_client_audit) VALUES (?, ?, ?) "
                              "ON CONFLICT (def_id, name) DO NOTHING", slots)

    @in_transaction
    def fill_attachment(self, def_id: int, name: str, content: bytes, content_type: str | None) -> bool:
        """Store a file into its expected slot; False when the submission expects no such file."""
        slot = self._execute("SELECT 1 FROM submission_attachments WHERE def_id = ? AND name = ?",
                               [def_id, name]).fetchone()
        if slot is None:
            return False
        sha = self.put_blob(content)
        self._execute("UPDATE submission_attachments SET blob_sha256 = ?, content_type = ? "
                        "WHERE def_id = ? AND name = ?", [sha, content_type, def_id, name])
        return True

    @in_transaction
    def carry_attachments(self, from_def: int, to_def: int) -> None:
        """An edit keeps the earlier version's files for the names it still references and did not resend."""
        self._execute(
            "UPDATE submission_attachments AS t SET blob_sha256 = f.blob_sha256, content_type = f.content_type "
            "FROM submission_attachments AS f WHERE t.def_id = ? AND f.def_id = ? AND f.name = t.name "
            "AND t.blob_sha256 IS NULL AND f.blob_sha256 IS NOT NULL", [to_def, from_def])

    def attachments(self, def_id: int) -> list[dict]:
        return self._all("SELECT a.name, a.blob_sha256, a.content_type, a.is_client_audit, b.size, b.md5 "
                         "FROM submission_attachments a LEFT JOIN blobs b ON b.sha256 = a.blob_sha256 "
                         "WHERE a.def_id = ? ORDER BY a.name", [def_id])

    @in_transaction
    def add_flags(self, def_id: int, flags: Iterable[tuple[str, str]]) -> None:
        rows = [(def_id, code, message) for code, message in flags]
        if rows:
            self._executemany("INSERT INTO quality_flags (def_id, code, message) VALUES (?, ?, ?)", rows)

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
        with self.transaction():
            self._execute("UPDATE submissions SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                       [now(), submission_id])

    def submission_xml(self, def_id: int) -> bytes:
        return bytes(self._execute("SELECT xml FROM submission_defs WHERE id = ?", [def_id]).fetchone()[0])

    def submission_versions(self, submission_id: int) -> list[dict]:
        return self._all("SELECT id, instance_id, deprecated_id, received_at, is_current FROM submission_defs "
                         "WHERE submission_id = ? ORDER BY id", [submission_id])

    def count_submissions(self, form_id: int) -> int:
        return self._execute("SELECT count(*) FROM submissions WHERE form_id = ? AND deleted_at IS NULL",
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
        with self.transaction():
            self._columns_changing()
            existing = set(self._table_columns(table)) or None
            if existing is None:
                cols = ", ".join(f"{quote(name)} {self._column_type(sqltype)}" for name, sqltype in columns.items())
                self._execute(f"CREATE TABLE {quote(table)} ({cols}{self.ROW_ORDER_COLUMN})")
                # Only _submission_id: every reader (exports, edits) finds a submission's rows by it. An index on
                # _parent_key (random uuid keys) was read by nothing and cost a random page per row written.
                for index in ("_submission_id",):
                    if index in columns:
                        self._execute(f"CREATE INDEX {quote(table + '_' + index.strip('_'))} "
                                   f"ON {quote(table)}({quote(index)})")
                return
            for name, sqltype in columns.items():
                if name not in existing:
                    self._execute(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(name)} {self._column_type(sqltype)}")

    @in_transaction
    def replace_rows(self, tables: Iterable[str], submission_id: int,
                     rows: Mapping[str, tuple[Sequence[str], list[Sequence]]]) -> None:
        """Swap a submission's typed rows for those of its current version (inside the caller's transaction).
        rows: table -> (column names, one sequence of values per row in that order)."""
        for table in tables:
            self._execute(_delete_rows_sql(table), (submission_id,))
        for table, (names, table_rows) in rows.items():
            if not table_rows:
                continue
            sql = _insert_rows_sql(table, tuple(names))
            if len(table_rows) == 1:
                self._execute(sql, table_rows[0])
            else:
                self._executemany(sql, table_rows)

    def rows(self, table: str, submission_id: int | None = None) -> list[dict]:
        """A typed-row table's rows (of one submission), in the order they were written."""
        _, columns = self._table_select(table)
        if submission_id is None:
            return self._all(f"SELECT {columns} FROM {quote(table)} ORDER BY {self.ROW_ORDER}")
        return self._all(f"SELECT {columns} FROM {quote(table)} WHERE _submission_id = ? ORDER BY {self.ROW_ORDER}",
                         [submission_id])
