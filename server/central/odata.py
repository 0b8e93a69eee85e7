"""The OData feed of each form, as Central serves it (lib/resources/odata.js, lib/formats/odata.js):

    /v1/projects/<id>/forms/<xmlFormId>.svc                   service document
    /v1/projects/<id>/forms/<xmlFormId>.svc/$metadata         EDMX
    /v1/projects/<id>/forms/<xmlFormId>.svc/Submissions       and Submissions.<repeat path>, each repeat table
    /v1/projects/<id>/forms/<xmlFormId>.svc/Submissions('<instanceId>')[/<group>/…/<repeat>]

with $top, $skip, $count, $skiptoken (and @odata.nextLink), $filter, $expand=*, $select and $wkt. Pages are keyset
pages behind $skiptoken and the body is streamed, CHUNK rows read at a time, so a whole table goes out in constant
memory at any size. A default page of Submissions splices each submission's body kept at ingest
(odata_entities.py) with its __id and __system; $expand, $select and $wkt build its rows from the typed tables.
An NDA's feed holds only their clusters' submissions and rows.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import urlencode

import orjson
from flask import Response, current_app, jsonify, request

from .. import context, errors
from ..permissions import in_scope
from ..storage.central_queries import FilterError
from . import bp, odata_filter
from .auth import allowed, store
from .edmx import metadata, service_document
from .odata_entities import children_of, entities, fields_of, tables_of
from .odata_rows import Table, encoded, iterations, repeat_row, row_id
from .shapes import iso, review_state, submitter_id, updated_at

CHUNK = 500            # rows read from the database at a time while streaming
_RESOURCE = re.compile(r"^(Submissions(?:\.[A-Za-z0-9_.]+)?)(?:\('([^']*)'\))?(?:/(.*))?$")
_JSON = "application/json; charset=utf-8"


@dataclass
class Query:
    """The OData query options of a request, checked."""

    top: int | None
    skip: int
    count: bool
    token: dict | None
    where: tuple[str, list] | None
    expand: bool
    select: frozenset[str] | None
    wkt: bool


def _ppa():
    return context.ppa()


def _form(project_id: int, xml_form_id: str) -> tuple[dict, Any, list, frozenset[str] | None]:
    scope = allowed(project_id)
    form = store().get_form(project_id, xml_form_id)
    if form is None or form["current_def_id"] is None:
        raise errors.not_found("form")
    formdef = _ppa().forms.get(store(), form["current_def_id"])
    return form, formdef, fields_of(store(), formdef, form["current_def_id"]), scope


def _service_url(project_id: int, xml_form_id: str) -> str:
    return f"{current_app.config['PUBLIC_URL']}/v1/projects/{project_id}/forms/{encoded(xml_form_id)}.svc"


def _odata(response: Response) -> Response:
    response.headers["OData-Version"] = "4.0"
    return response


@bp.get("/v1/projects/<int:project_id>/forms/<xml_form_id>.svc")
@bp.get("/v1/projects/<int:project_id>/forms/<xml_form_id>.svc/")
def service(project_id: int, xml_form_id: str) -> Response:
    _form_row, _def, fields, _scope = _form(project_id, xml_form_id)
    response = jsonify(service_document(fields, _service_url(project_id, xml_form_id)))
    response.headers["Content-Type"] = "application/json; charset=utf-8; odata.metadata=minimal"
    return _odata(response)


@bp.get("/v1/projects/<int:project_id>/forms/<xml_form_id>.svc/$metadata")
def edmx(project_id: int, xml_form_id: str) -> Response:
    form, _def, fields, _scope = _form(project_id, xml_form_id)
    return _odata(Response(metadata(form["xml_form_id"], fields), content_type="application/xml; charset=utf-8"))


@bp.get("/v1/projects/<int:project_id>/forms/<xml_form_id>.svc/<path:resource>")
def feed(project_id: int, xml_form_id: str, resource: str) -> Response:
    form, formdef, fields, scope = _form(project_id, xml_form_id)
    match = _RESOURCE.match(resource)
    if match is None:
        raise errors.not_found("entity set")
    entity, key, navigation = match.groups()
    query = _query()
    tables = tables_of(store(), project_id, formdef, form["current_def_id"], query.wkt)
    if key is not None:
        if entity != "Submissions":
            raise errors.Problem("501.4", "Addressing a row of a repeat table by its key is not supported here: "
                                 "read the table, or navigate from its submission.")
        _check_instance(form, key, scope)
        if navigation:
            entity = "Submissions." + ".".join(p for p in navigation.strip("/").split("/"))
    elif navigation:
        raise errors.not_found("entity set")
    table = tables.get(entity)
    if table is None:
        raise errors.not_found("entity set")
    if table.path is not None and table.depth > 1 and key is not None:
        raise errors.Problem("501.4", "Navigation into a repeat inside a repeat is not supported here: read its "
                             "table and join on its parent key.")
    context = f"{_service_url(project_id, xml_form_id)}/$metadata#{table.entity}"
    feed_url = f"{_service_url(project_id, xml_form_id)}/{table.entity}"
    if table.path is None:
        body = _submissions(form, tables, table, scope, query, key, context, feed_url)
    else:
        body = _repeat(form, tables, table, scope, query, key, context, feed_url)
    return _odata(Response(body, content_type=_JSON))


def _check_instance(form: dict, instance_id: str, scope: frozenset[str] | None) -> None:
    """The cluster rule for one submission, as on its review page: unknown 404, outside the caller's clusters 403."""
    row = store().central_submission(form["id"], instance_id)
    if row is None:
        raise errors.not_found("submission")
    if not in_scope(scope, row["cluster"]):
        raise errors.not_allowed()


# -- query options ---------------------------------------------------------------------------------------

def whole_arg(name: str) -> int | None:
    """A paging option ($top, $skip) as a whole number, None when absent; anything else is Central's 400.8."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise errors.Problem("400.8", f"{name} must be a whole number, not {raw!r}.", {"field": name})
    return int(raw)


def _query() -> Query:
    args = request.args
    for option in ("$orderby", "$search", "$apply"):
        if option in args:
            raise errors.Problem("501.4", f"The OData option {option} is not supported here.")
    expand = args.get("$expand")
    if expand not in (None, "*"):
        raise errors.Problem("501.4", "Only $expand=* is supported here.")
    select = args.get("$select")
    where = None
    if args.get("$filter"):
        try:
            where = store().central_filter_sql(odata_filter.parse(args["$filter"]))
        except FilterError as exc:
            raise odata_filter.unparseable(str(exc)) from None
    return Query(top=whole_arg("$top"), skip=whole_arg("$skip") or 0, count=is_true(args.get("$count")),
                 token=_skiptoken(args.get("$skiptoken")), where=where, expand=expand == "*",
                 select=frozenset(s.strip() for s in select.split(",") if s.strip()) if select else None,
                 wkt=is_true(args.get("$wkt")))


def is_true(value: str | None) -> bool:
    """Central's isTrue: 'true' in any case (pyodk sends Python's True)."""
    return value is not None and value.lower() == "true"


def _skiptoken(raw: str | None) -> dict | None:
    """Central's $skiptoken: '01' then base64 of a JSON object naming the last row sent."""
    if raw is None:
        return None
    try:
        token = json.loads(base64.b64decode(raw[2:], validate=True)) if raw[:2] == "01" else None
    except (binascii.Error, ValueError):
        token = None
    if not isinstance(token, dict):
        raise errors.Problem("400.35", "The $skiptoken is not one this server gave: follow @odata.nextLink as it is.")
    return token


def make_skiptoken(key: dict) -> str:
    return "01" + base64.b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def _next_link(feed_url: str, args: list[tuple[str, str]], token: dict) -> str:
    """The request's own URL with $skiptoken naming the last row sent (and no $skip: the token replaces it)."""
    kept = [(k, v) for k, v in args if k not in ("$skip", "$skiptoken")]
    return f"{feed_url}?{urlencode(kept + [('$skiptoken', make_skiptoken(token))])}"


# -- streaming ---------------------------------------------------------------------------------------------

def _pages(fetch, top: int | None) -> Iterator[tuple[list, bool]]:
    """Chunks of rows up to `top` (None: all), each with whether rows remain after the last one sent.
    fetch(limit, last) returns rows after `last` (the previous chunk's last row; None at first)."""
    remaining, last = top, None
    while remaining is None or remaining > 0:
        want = CHUNK if remaining is None else min(CHUNK, remaining)
        rows = fetch(want + 1, last)
        more = len(rows) > want
        rows = rows[:want]
        if rows:
            yield rows, more
            last = rows[-1]
        if not more:
            return
        if remaining is not None:
            remaining -= len(rows)


def _document(chunks: Iterator[tuple[list[bytes], dict | None]], context: str, feed_url: str,
              args: list[tuple[str, str]], count: int | None) -> Iterator[bytes]:
    """{"value": [...], "@odata.context", "@odata.nextLink", "@odata.count"}, written as the rows come. Each row
    is encoded (orjson: a page of a 200-question form is megabytes of JSON, which the standard library encodes
    several times slower) as soon as it is built, so that its objects are freed at once and the garbage collector
    never has a page of them to walk."""
    yield b'{"value":['
    first, next_key = True, None
    for rows, next_key in chunks:
        if rows:
            text = b",".join(rows)
            yield text if first else b"," + text
            first = False
    tail = {"@odata.context": context}
    if next_key is not None:
        tail["@odata.nextLink"] = _next_link(feed_url, args, next_key)
    if count is not None:
        tail["@odata.count"] = count
    yield b"]," + orjson.dumps(tail)[1:]


def _select(row: dict, select: frozenset[str] | None) -> dict:
    """$select: only the properties named, groups and __system kept nested (__system/submissionDate)."""
    if select is None:
        return row
    out: dict = {}
    for path in select:
        head, _, rest = path.partition("/")
        if head not in row:
            continue
        if rest and isinstance(row[head], dict):
            inner = _select(row[head], frozenset([rest]))
            out.setdefault(head, {}).update(inner)
        else:
            out[head] = row[head]
    return out


def _system(row: dict) -> dict:
    """Central's __system for a submission (lib/data/odata.js)."""
    submitter = submitter_id(row)
    return {"submissionDate": iso(row["created_at"]), "updatedAt": updated_at(row),
            "submitterId": None if submitter is None else str(submitter),
            "submitterName": row["device_name"] if row["device_id"] is not None else row["user_email"],
            "attachmentsPresent": row["attachments_present"], "attachmentsExpected": row["attachments_expected"],
            "status": "notDecrypted" if row["encrypted"] else None, "reviewState": review_state(row["review_state"]),
            "deviceId": row["device_ref"], "edits": row["edits"], "formVersion": row["form_version"],
            "deletedAt": iso(row["deleted_at"])}


def _submissions(form: dict, tables: dict[str, Table], table: Table, scope, query: Query, key: str | None,
                 context: str, feed_url: str) -> Iterator[str]:
    s = store()
    before = None
    if query.token is not None:
        instance = query.token.get("instanceId")
        before = s.central_submission_id(form["id"], instance) if isinstance(instance, str) else None
        if before is None:
            raise errors.Problem("400.35", "The $skiptoken names no submission of this form: start again.")
    count = s.central_count(form["id"], scope, query.where) if query.count and key is None else None
    offset = query.skip if query.token is None else 0
    plain = not query.expand and query.select is None and not query.wkt   # the default body: kept at ingest

    def fetch(limit: int, last: dict | None) -> list[dict]:
        nonlocal offset
        rows = s.central_submissions(form["id"], scope, odata=True, before_id=last["id"] if last else before,
                                     limit=limit, where=query.where, instance_id=key,
                                     offset=offset if last is None else 0)
        return rows

    def chunks() -> Iterator[tuple[list[bytes], dict | None]]:
        for rows, more in _pages(fetch, query.top):
            built = _spliced(s, tables, table, rows, form["current_def_id"]) if plain else \
                _built(s, tables, table, rows, query)
            yield built, ({"instanceId": rows[-1]["instance_id"]} if more and query.top is not None else None)

    return _document(chunks(), context, feed_url, list(request.args.items(multi=True)), count)


def _built(s, tables: dict[str, Table], table: Table, rows: list[dict], query: Query) -> list[bytes]:
    """A page of submissions built from their typed rows (for $expand, $select or $wkt)."""
    out = []
    for r, body in zip(rows, entities(s, tables, table, rows, query.expand)):
        body["__id"] = r["instance_id"]
        body["__system"] = _system(r)
        out.append(orjson.dumps(_select(body, query.select)))
    return out


def _spliced(s, tables: dict[str, Table], table: Table, rows: list[dict], current_def_id: int) -> list[bytes]:
    """A default page of submissions: each one's body as kept at ingest (odata_entities), or built here when none
    was kept against the current form version, followed by __id and __system, which change after ingest. The
    result is byte for byte what _built writes."""
    kept = s.odata_entities([r["def_id"] for r in rows], current_def_id)
    missing = [r for r in rows if r["def_id"] not in kept]
    if missing:
        for r, body in zip(missing, entities(s, tables, table, missing, False)):
            kept[r["def_id"]] = orjson.dumps(body).decode()
    out = []
    for r in rows:
        body = kept[r["def_id"]].encode()
        tail = orjson.dumps({"__id": r["instance_id"], "__system": _system(r)})
        out.append(tail if body == b"{}" else body[:-1] + b"," + tail[1:])
    return out


def _repeat(form: dict, tables: dict[str, Table], table: Table, scope, query: Query, key: str | None,
            context: str, feed_url: str) -> Iterator[str]:
    s = store()
    after = None
    if query.token is not None:
        position = query.token.get("position")
        if not (isinstance(position, list) and len(position) == 2 and all(isinstance(p, int) for p in position)):
            raise errors.Problem("400.35", "The $skiptoken is not one this server gave: follow @odata.nextLink as "
                                 "it is.")
        after = (position[0], position[1])
    count = s.central_repeat_count(table.table, form["id"], scope, query.where, key) if query.count else None

    layout: list[tuple[str, ...]] = [()]   # the page's column names (the same for every page of a table)

    def fetch(limit: int, last: tuple | None) -> list[tuple]:
        at = {c: i for i, c in enumerate(layout[0])}
        position = (last[at["_submission_id"]], last[at["_rowid"]]) if last else after
        columns, rows = s.central_repeat_page(table.table, form["id"], scope, position, limit, query.where, key,
                                              offset=query.skip if query.token is None and last is None else 0)
        if columns:
            layout[0] = tuple(columns)
        return rows

    def chunks() -> Iterator[tuple[list[bytes], dict | None]]:
        for rows, more in _pages(fetch, query.top):
            columns = layout[0]
            sid, root, key_at, rowid = (columns.index(c) for c in ("_submission_id", "_root", "_key", "_rowid"))
            children = children_of(s, tables, table, sorted({r[sid] for r in rows}), query.expand)
            built = [orjson.dumps(_select(repeat_row(table, columns, r, r[root], children, query.expand),
                                          query.select)) for r in rows]
            token = None
            if more and query.top is not None:
                last = rows[-1]
                token = {"repeatId": row_id(last[root], table.steps, iterations(last[key_at], table.depth)),
                         "position": [last[sid], last[rowid]]}
            yield built, token

    return _document(chunks(), context, feed_url, list(request.args.items(multi=True)), count)
