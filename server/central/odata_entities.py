"""The data part of each submission's OData entity (its nested, typed fields and the links to its repeats), made
by the row builder of odata_rows.py. The feed builds it for the rows it must; ingest makes it once per submission
version and the store keeps it, JSON-encoded exactly as the feed writes it (odata_entities, migration m016), so
that a default page of `Submissions` only splices kept bodies with the fields that change after ingest (__id,
__system). No Flask, no SQL.

A body depends on the submission version (its typed rows, which repeats hold rows of it, its instanceID,
instanceName and deprecatedID: all fixed once it is stored; an edit is a new version, made at its ingest) and on
the field list of the form version that is current when it is made (recorded with it as form_def_id). Nothing
else: review states, attachments, deletion, lists and labels are not in it. A page uses a kept body only when it
was made against today's current form version; after a new version is published, the page builds the older
bodies as before until `ppa aggregates rebuild` makes them again (and each new submission's is made at ingest).
"""

from __future__ import annotations

from typing import Any, Sequence

import orjson

from .edmx import CentralField, form_fields
from .odata_rows import Children, Table, attach, compile_tables

CHUNK = 500            # submissions built and kept at a time by keep()


def fields_of(store: Any, formdef: Any, def_id: int) -> list[CentralField]:
    """Central's field list of a form version (parsed once per FormDef)."""
    fields = formdef.derived.get("central_fields")
    if fields is None:
        fields = formdef.derived["central_fields"] = form_fields(store.form_def_xml(def_id))
    return fields


def tables_of(store: Any, project_id: int, formdef: Any, def_id: int, wkt: bool) -> dict[str, Table]:
    """Every entity set of a form version, compiled once per FormDef, project and $wkt."""
    key = ("central_tables", project_id, wkt)
    tables = formdef.derived.get(key)
    if tables is None:
        tables = formdef.derived[key] = compile_tables(project_id, formdef, fields_of(store, formdef, def_id), wkt)
    return tables


def children_of(s: Any, tables: dict[str, Table], table: Table, ids: list[int], expand: bool,
                keys: dict[int, str] | None = None) -> Children:
    """What the rows of one page need of the repeats below them (s: the store). keys: for a page of submissions,
    each one's key (its current instanceID), so that which of them hold rows of a repeat is read from the repeat's
    index alone."""
    out = Children()
    below = [t for t in tables.values() if t.path and (table.path is None or t.path.startswith(table.path + "/"))]
    wanted = below if expand else [child for _, _, child in table.repeats]
    for t in wanted:
        if keys is not None and t.parent is table:
            out.parents[t.table] = {keys[sid] for sid in s.central_repeat_holders(t.table, ids)}
        else:
            out.parents[t.table] = s.central_repeat_parents(t.table, ids)
        if expand:
            columns, rows = s.central_repeat_rows(t.table, ids)
            at = columns.index("_parent_key") if columns else 0
            grouped: dict[str, list[tuple]] = {}
            for row in rows:
                grouped.setdefault(row[at], []).append(row)
            out.rows[t.table] = (tuple(columns), grouped)
    return out


def entities(s: Any, tables: dict[str, Table], table: Table, rows: Sequence[dict], expand: bool) -> list[dict]:
    """The data part of each submission's entity, in the order of `rows` (each with id, instance_id,
    version_instance_id, instance_name, deprecated_id and encrypted): {} for an encrypted one."""
    ids = [r["id"] for r in rows]
    columns, main = s.central_main_rows(table.table, ids)
    build = table.builder(tuple(columns))
    empty = (None,) * len(columns)
    children = children_of(s, tables, table, ids, expand, {r["id"]: r["version_instance_id"] for r in rows})
    out = []
    for r in rows:
        if r["encrypted"]:
            out.append({})
            continue
        body = build(main.get(r["id"], empty), r)
        if table.repeats:
            attach(table, body, r["version_instance_id"], r["instance_id"], [], children, expand)
        out.append(body)
    return out


def keep(store: Any, forms: Any, project_id: int, form: dict, submission_ids: Sequence[int] | None = None) -> int:
    """Make and keep the entity bodies of these submissions' current versions (None: every submission of the form)
    against the form's current version, inside the caller's transaction. Returns how many were kept."""
    current = form["current_def_id"]
    if current is None:
        return 0
    tables = tables_of(store, project_id, forms.get(store, current), current, wkt=False)
    root = tables["Submissions"]
    sources = store.odata_entity_sources(form["id"], submission_ids)
    for start in range(0, len(sources), CHUNK):
        chunk = sources[start:start + CHUNK]
        for row, body in zip(chunk, entities(store, tables, root, chunk, expand=False)):
            store.put_odata_entity(row["def_id"], current, orjson.dumps(body).decode())
    return len(sources)


def rebuild(store: Any, forms: Any, project_id: int) -> int:
    """Make again every submission's kept body in each form of a project, against each form's current version
    (after migration m016, or after a new form version was published). Returns how many were kept."""
    done = 0
    with store.transaction():
        for form in store.list_forms(project_id):
            done += keep(store, forms, project_id, form)
    return done
