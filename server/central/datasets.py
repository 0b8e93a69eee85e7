"""The lists the server manages (clusters, hamlets, households, nodes) as Central's datasets (entity lists):
GET /v1/projects/<id>/datasets, .../datasets/<name>/entities (pyodk's entities.list) and the OData feed
.../datasets/<name>.svc/Entities. Read only: lists are changed on the Lists page or by submissions.

An entity's uuid (and OData __id) is the item's name, e.g. a household id, the value the forms store, so that
researchers join submissions to lists on it; its label is the list's label column and its data the other columns.
An NDA sees only the items of their clusters, as their phone does (lists.in_clusters). We do not record who added
an item, nor with what: creatorId is 0, creatorName null and userAgent empty.
"""

from __future__ import annotations

import itertools
import json
from typing import Iterator

from flask import Response, current_app, jsonify, request

from .. import errors, lists
from . import bp
from .auth import allowed, store
from .odata import is_true, whole_arg
from .shapes import iso

_UNKNOWN_CREATOR = 0
_ADDED = "\0added_at"   # carries an item's date through lists.in_clusters; no column can be named so


def _dataset(project_id: int, name: str) -> tuple[str, frozenset[str] | None]:
    scope = allowed(project_id)
    list_name = f"{name}.csv"
    if list_name not in lists.LISTS or list_name not in store().list_names(project_id):
        raise errors.not_found("dataset")
    return list_name, scope


def _items(s, project_id: int, list_name: str, scope) -> Iterator[dict]:
    """The items the caller may see, in order, as {name, data, added_at} (s: the store, as this runs while the
    answer streams, after the request's context has gone)."""
    def pairs():
        for name, data, added_at in s.central_list_entities(project_id, list_name):
            if name != lists.RESERVED_NAME:
                yield name, {**data, _ADDED: added_at}
    for name, data in lists.in_clusters(list_name, pairs(), scope):
        added_at = data.pop(_ADDED)
        yield {"name": name, "data": data, "added_at": added_at}


@bp.get("/v1/projects/<int:project_id>/datasets")
def datasets(project_id: int) -> Response:
    allowed(project_id)
    return jsonify([{"name": n.removesuffix(".csv"), "createdAt": iso(store().central_list_created(project_id, n)),
                     "projectId": project_id, "approvalRequired": False, "ownerOnly": False}
                    for n in sorted(store().list_names(project_id)) if n in lists.LISTS])


@bp.get("/v1/projects/<int:project_id>/datasets/<name>/entities")
def entities(project_id: int, name: str) -> Response:
    list_name, scope = _dataset(project_id, name)
    return jsonify([_entity(i) for i in _items(store(), project_id, list_name, scope)])


def _entity(item: dict) -> dict:
    data = {k: v for k, v in item["data"].items() if k != "label"}
    created = iso(item["added_at"])
    return {"uuid": item["name"], "creatorId": _UNKNOWN_CREATOR, "createdAt": created, "conflict": None,
            "updatedAt": None, "deletedAt": None,
            "currentVersion": {"label": item["data"].get("label") or item["name"], "current": True,
                               "createdAt": created, "creatorId": _UNKNOWN_CREATOR, "userAgent": "", "version": 1,
                               "baseVersion": None, "conflictingProperties": None, "data": data}}


@bp.get("/v1/projects/<int:project_id>/datasets/<name>.svc/Entities")
def entities_feed(project_id: int, name: str) -> Response:
    """The OData Entities feed, $top, $skip and $count, streamed."""
    list_name, scope = _dataset(project_id, name)
    top, skip = whole_arg("$top"), whole_arg("$skip") or 0
    s = store()
    count = sum(1 for _ in _items(s, project_id, list_name, scope)) if is_true(request.args.get("$count")) else None
    context = (f"{current_app.config['PUBLIC_URL']}/v1/projects/{project_id}/datasets/{name}.svc/$metadata#Entities")

    def body() -> Iterator[str]:
        yield '{"value":['
        rows = itertools.islice(_items(s, project_id, list_name, scope), skip, None if top is None else skip + top)
        for n, item in enumerate(rows):
            yield ("," if n else "") + json.dumps(_odata_entity(item), ensure_ascii=False, separators=(",", ":"))
        tail = {"@odata.context": context, **({"@odata.count": count} if count is not None else {})}
        yield "]," + json.dumps(tail)[1:]
    response = Response(body(), content_type="application/json; charset=utf-8")
    response.headers["OData-Version"] = "4.0"
    return response


def _odata_entity(item: dict) -> dict:
    created = iso(item["added_at"])
    out = {"__id": item["name"], "label": item["data"].get("label") or item["name"],
           "__system": {"createdAt": created, "creatorId": str(_UNKNOWN_CREATOR), "creatorName": None, "updates": 0,
                        "updatedAt": None, "deletedAt": None, "version": 1, "conflict": None}}
    out.update({k: v for k, v in item["data"].items() if k != "label"})
    return out

