"""ODK Central's REST API and OData feed, for researchers' own tools (pyodk, ruODK, Power BI, Excel).

Paths, status codes, JSON field names and OData shapes follow ODK Central (getodk/central-backend: docs/api.yaml,
lib/resources/*.js, lib/formats/odata.js, lib/data/odata-filter.js), so a script written for Central works here
by changing only its base URL. One module per job:
- auth: who is calling (Bearer session or API token, HTTP Basic, or a signed-in browser for reads);
- sessions: POST /v1/sessions, DELETE /v1/sessions/current, GET /v1/users/current;
- shapes: our rows in Central's JSON field names (projects, forms, submissions, comments, datasets);
- rest: the REST resources, read and review side;
- edmx: the service document, $metadata and the fields list, from the form's structure;
- odata_filter: $filter parsed into a small expression tree, turned into SQL by the store;
- odata_rows: typed rows as Central's OData JSON (one compiled builder per form version and table);
- odata_entities: each submission's data part of its OData entity, made by that builder at ingest and kept;
- odata: the OData feeds, paged by key ($skiptoken) and streamed in constant memory.
The SQL lives in server/storage/central_queries.py. Roles and the NDA cluster scope are server.permissions'.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response

bp = Blueprint("central", __name__)


@bp.after_request
def _json_charset(response: Response) -> Response:
    """Central names the charset of its JSON (application/json; charset=utf-8); some clients expect it."""
    if response.mimetype == "application/json" and "charset" not in response.headers.get("Content-Type", ""):
        response.headers["Content-Type"] = "application/json; charset=utf-8"
    return response


def register(app: Flask) -> None:
    from . import auth, datasets, odata, rest, sessions  # noqa: F401  (routes and error handler attach to bp)
    app.register_blueprint(bp)
