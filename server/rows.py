"""Typed rows derived from a submission: one table per form, one per repeat, with parent keys.

Pure: turns a FormDef into table layouts and a validated record into rows. Keys follow
Central's export convention: a repeat row's key is '<instanceID>/<repeat>[<n>]', its parent
key the key of the row it sits in (the instanceID for top-level repeats).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

from .xforms import FormDef

_SQL_TYPES = {"int": "INTEGER", "integer": "INTEGER", "decimal": "REAL"}
MAIN_SYSTEM = {"_submission_id": "INTEGER", "_def_id": "INTEGER", "_instance_id": "TEXT", "_form_version": "TEXT"}
REPEAT_SYSTEM = {"_submission_id": "INTEGER", "_key": "TEXT", "_parent_key": "TEXT", "_index": "INTEGER"}


def table_name(project_id: int, form_id: str, repeat_key: str | None = None) -> str:
    safe = re.sub(r"[^A-Za-z0-9_]", "_", form_id)
    return f"data_{project_id}_{safe}" + (f"__{repeat_key}" if repeat_key else "")


def layout(project_id: int, form: FormDef) -> dict[str, dict[str, str]]:
    """Table name -> {column: SQL type} for every table this form version writes (cached per FormDef)."""
    key = ("layout", project_id)
    cached = form.derived.get(key)
    if cached is None:
        cached = form.derived[key] = _layout(project_id, form)
    return cached


def _layout(project_id: int, form: FormDef) -> dict[str, dict[str, str]]:
    tables = {table_name(project_id, form.form_id): dict(MAIN_SYSTEM)}
    for repeat in form.repeats:
        tables[table_name(project_id, form.form_id, form.repeat_key(repeat))] = dict(REPEAT_SYSTEM)
    for f in form.fields:
        table = table_name(project_id, form.form_id, form.repeat_key(f.repeat) if f.repeat else None)
        tables[table][f.key] = _SQL_TYPES.get(f.type, "TEXT")
    return tables


class TableRows(NamedTuple):
    """One table's new rows: column names, then one list of values per row in that order."""

    columns: tuple[str, ...]
    rows: list[list]


@dataclass(frozen=True)
class _Scope:
    """How rows of one table are made (compiled once per form version and project)."""

    table: str
    columns: tuple[str, ...]               # system columns, then the fields' keys
    keys: tuple[str, ...]                  # the fields' keys, in column order
    temporal: frozenset[str]               # keys whose values may be date, dateTime or time objects
    children: tuple[tuple[str, "_Scope"], ...]   # (repeat key, its scope) for repeats directly inside


def _scopes(project_id: int, form: FormDef) -> _Scope:
    key = ("row_scopes", project_id)
    cached = form.derived.get(key)
    if cached is None:
        cached = form.derived[key] = _compile(project_id, form, None)
    return cached


def _compile(project_id: int, form: FormDef, repeat: str | None) -> _Scope:
    tables = layout(project_id, form)
    table = table_name(project_id, form.form_id, form.repeat_key(repeat) if repeat else None)
    system = MAIN_SYSTEM if repeat is None else REPEAT_SYSTEM
    keys = tuple(c for c in tables[table] if c not in system)
    temporal = frozenset(f.key for f in form.fields if f.repeat == repeat and f.type in _TEMPORAL)
    inner = [r for r in form.repeats if _parent_repeat(form, r) == repeat]
    children = tuple((form.repeat_key(r), _compile(project_id, form, r)) for r in inner)
    return _Scope(table, tuple(system) + keys, keys, temporal, children)


def _parent_repeat(form: FormDef, repeat: str) -> str | None:
    holders = [r for r in form.repeats if repeat.startswith(r + "/")]
    return max(holders, key=len) if holders else None


_TEMPORAL = {"date", "dateTime", "time"}
SUBMISSION_ID_AT, DEF_ID_AT = 0, 1    # where the ids sit in a row (MAIN_SYSTEM and REPEAT_SYSTEM order)


def build(project_id: int, form: FormDef, record: Mapping[str, Any], submission_id: Any, def_id: Any,
          instance_id: str) -> dict[str, TableRows]:
    """Rows for every table of the form, in one pass over the record; absent answers are None. The ids may be
    stand-ins, set later with with_ids() (the rows are built before the write lock hands the ids out)."""
    top = _scopes(project_id, form)
    out: dict[str, TableRows] = {}

    def emit(scope: _Scope, node: Mapping, system: list, key: str) -> None:
        get = node.get
        row = system + [get(k) for k in scope.keys]
        if scope.temporal:
            offset = len(system)
            for i, k in enumerate(scope.keys):
                if k in scope.temporal:
                    row[offset + i] = _plain(row[offset + i])
        table = out.get(scope.table)
        if table is None:
            table = out[scope.table] = TableRows(scope.columns, [])
        table.rows.append(row)
        for name, child in scope.children:
            for index, item in enumerate(get(name) or (), start=1):
                child_key = f"{key}/{name}[{index}]"
                emit(child, item, [submission_id, child_key, key, index], child_key)

    emit(top, record, [submission_id, def_id, instance_id, form.version], instance_id)
    return out


def with_ids(built: Mapping[str, TableRows], submission_id: int, def_id: int, main_table: str) -> None:
    """Put the real ids in place of the stand-ins build() was given."""
    for table, (_, table_rows) in built.items():
        for row in table_rows:
            row[SUBMISSION_ID_AT] = submission_id
        if table == main_table:
            for row in table_rows:
                row[DEF_ID_AT] = def_id


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return value
