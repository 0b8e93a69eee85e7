"""Typed rows derived from a submission: one table per form, one per repeat, with parent keys.

Pure: turns a FormDef into table layouts and a validated record into rows. Keys follow
Central's export convention: a repeat row's key is '<instanceID>/<repeat>[<n>]', its parent
key the key of the row it sits in (the instanceID for top-level repeats).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Mapping

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


def build(project_id: int, form: FormDef, record: Mapping[str, Any], submission_id: int, def_id: int,
          instance_id: str) -> dict[str, list[dict]]:
    """Rows for every table of the layout; each row carries every column, absent answers as None."""
    columns = layout(project_id, form)
    out: dict[str, list[dict]] = {name: [] for name in columns}
    main = table_name(project_id, form.form_id)
    repeat_keys = {form.repeat_key(r) for r in form.repeats}

    def emit(table: str, node: Mapping, system: dict, key: str) -> None:
        row = {col: None for col in columns[table]}
        row.update(system)
        for name, value in node.items():
            if name in repeat_keys:
                child_table = table_name(project_id, form.form_id, name)
                for index, child in enumerate(value or [], start=1):
                    child_key = f"{key}/{name}[{index}]"
                    emit(child_table, child, {"_submission_id": submission_id, "_key": child_key,
                                              "_parent_key": key, "_index": index}, child_key)
            elif name in row:
                row[name] = _plain(value)
        out[table].append(row)

    emit(main, record, {"_submission_id": submission_id, "_def_id": def_id, "_instance_id": instance_id,
                        "_form_version": form.version}, instance_id)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return value
