"""The columns of the typed-row tables, read from the engine's catalogue once and then reused: mixed into both engines
(sqlite_engine.py, postgres_engine.py), which supply ``_read_table_columns`` (PRAGMA table_info, or
information_schema on PostgreSQL). Ingest asks for a form's columns several times per submission (its OData body,
which repeats hold rows), and reading ~230 catalogue rows each time cost more than the rest of the body.

Why a cached list stays right, on one server or several sharing one PostgreSQL database:

- A typed-row table is created or given columns only by ``ensure_table``, when a form version is published, in the
  transaction that adds its ``form_defs`` row. So the highest form_defs id (one read of its primary key) changes
  whenever any server changes a table, in the same commit. Each cached list is kept with the id it was read under
  and used only while that id is still the highest; the id is read before the columns, so a list is never filed
  under an id older than the schema it was read from. (form_defs rows are never deleted.)
- Inside a unit of work (``store.transaction()``) the id is read once: writers run one at a time (SQLite's
  BEGIN IMMEDIATE, PostgreSQL's WRITE_LOCK), and a publish is a writer, so no other server changes a table
  meanwhile.
- A unit of work that changes a table itself neither reads nor fills the cache until it ends: what it sees is not
  committed yet, and a rollback would undo it. When it ends (committed or rolled back) the store forgets every list,
  and a read that began before that is not kept (the generation check).
- A table that does not exist is never cached: it is looked up again at the next call.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from .base import quote

SCHEMA_KEY_SQL = "SELECT coalesce(max(id), 0) FROM form_defs"


class TableColumns:
    """The column cache; the engine calls ``_columns_unit_begins``/``_columns_unit_ends`` around each outermost
    transaction and ``ensure_table`` calls ``_columns_changing`` before it alters a table."""

    _local: threading.local

    def _init_columns_cache(self) -> None:
        # table -> (schema key it was read under, its columns, {prefix: quoted SELECT list})
        self._columns_cache: dict[str, tuple[int, list[str], dict[str, str]]] = {}
        self._columns_lock = threading.Lock()
        self._columns_generation = 0

    # what each engine supplies: its catalogue read (PRAGMA table_info, information_schema) and its statement runner
    _read_table_columns: Callable[[str], list[str]]
    _execute: Callable[..., Any]

    # -- what the query modules call ---------------------------------------------------

    def table_exists(self, table: str) -> bool:
        return bool(self._cached_columns(table))

    def _table_columns(self, table: str) -> list[str]:
        """The columns of a typed-row table in their order (never PostgreSQL's _row); [] when it does not exist."""
        entry = self._cached_columns(table)
        return list(entry[1]) if entry else []

    def _table_select(self, table: str, prefix: str = "") -> tuple[list[str], str]:
        """(the table's columns, the same quoted for a SELECT list, each after `prefix`, e.g. 'r.'); ([], '')
        when the table does not exist."""
        entry = self._cached_columns(table)
        if not entry:
            return [], ""
        _, columns, selects = entry
        text = selects.get(prefix)
        if text is None:
            text = selects[prefix] = ", ".join(prefix + quote(c) for c in columns)
        return list(columns), text

    # -- the cache ------------------------------------------------------------------------

    def _cached_columns(self, table: str) -> tuple[int, list[str], dict[str, str]] | None:
        local = self._local
        if getattr(local, "columns_changing", False):   # this unit of work altered a table: read it as it is now
            columns = self._read_table_columns(table)
            return (0, columns, {}) if columns else None
        generation = self._columns_generation
        key = self._schema_key()
        entry = self._columns_cache.get(table)
        if entry is not None and entry[0] == key:
            return entry
        columns = self._read_table_columns(table)
        if not columns:
            return None
        entry = (key, columns, {})
        with self._columns_lock:
            if self._columns_generation == generation:
                self._columns_cache[table] = entry
        return entry

    def _schema_key(self) -> int:
        """The highest form_defs id: read once per unit of work, else at each call."""
        local = self._local
        if getattr(local, "columns_unit", False):
            key = getattr(local, "columns_key", None)
            if key is None:
                key = local.columns_key = self._execute(SCHEMA_KEY_SQL).fetchone()[0]
            return key
        return self._execute(SCHEMA_KEY_SQL).fetchone()[0]

    def _forget_columns(self) -> None:
        """Drop every cached list, and keep none that a read begun before now would file."""
        with self._columns_lock:
            self._columns_generation += 1
            self._columns_cache.clear()

    def _columns_unit_begins(self) -> None:
        self._local.columns_unit = True
        self._local.columns_key = None
        self._local.columns_changing = False

    def _columns_unit_ends(self) -> None:
        local = self._local
        changed = getattr(local, "columns_changing", False)
        local.columns_unit = False
        local.columns_key = None
        local.columns_changing = False
        if changed:
            self._forget_columns()

    def _columns_changing(self) -> None:
        """This unit of work is about to create or alter a table (ensure_table)."""
        self._local.columns_changing = True
        self._forget_columns()
