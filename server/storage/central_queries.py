"""ODK Central's REST API and OData feed (server/central/): submissions with their actors, keyset pages of the
typed row tables, $filter as SQL. A query module shared by both stores (contract.py: CentralStore).

SQL written once for SQLite and PostgreSQL: ? placeholders, COALESCE, substr on ISO-8601 text, no engine
functions; a typed table's insertion order is the engine's ROW_ORDER (SQLite's rowid, PostgreSQL's _row column),
and its columns and their SELECT list come from _table_select (without PostgreSQL's _row; read once and reused,
table_columns.py). Pages are keyset pages: Submissions
newest first on submissions(form_id, id); a repeat table on (_submission_id, ROW_ORDER) through its _submission_id
index, so page 100 costs what page 1 does.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Sequence

from .base import in_list, marks, quote


# LIMIT for "no limit" with an OFFSET: SQLite has no LIMIT ALL and PostgreSQL refuses LIMIT -1.
NO_LIMIT = 2 ** 63 - 1


_SUBMISSION_COLUMNS = (
    "s.id, s.instance_id, s.review_state, s.created_at, s.updated_at, s.deleted_at, s.cluster, "
    "d.id AS def_id, d.form_def_id, d.instance_id AS version_instance_id, d.instance_name, d.device_id, d.user_id, "
    "d.user_agent, d.device_ref, d.received_at, d.is_current, d.encrypted, d.deprecated_id, "
    "fd.version AS form_version, "
    "dv.name AS device_name, dv.created_at AS device_created_at, dv.revoked_at AS device_revoked_at, "
    "u.email AS user_email, u.created_at AS user_created_at, u.disabled_at AS user_disabled_at, "
    "(SELECT max(c.at) FROM submission_comments c WHERE c.submission_id = s.id AND c.review_state IS NOT NULL) "
    "AS reviewed_at")
_ODATA_EXTRA = (
    ", (SELECT count(*) FROM submission_attachments a WHERE a.def_id = d.id) AS attachments_expected, "
    "(SELECT count(*) FROM submission_attachments a WHERE a.def_id = d.id AND a.blob_sha256 IS NOT NULL) "
    "AS attachments_present, (SELECT count(*) FROM submission_defs e WHERE e.submission_id = s.id) - 1 AS edits")
_SUBMISSION_FROM = (
    "FROM submissions s JOIN submission_defs d ON d.id = s.current_def_id JOIN form_defs fd ON fd.id = d.form_def_id "
    "LEFT JOIN devices dv ON dv.id = d.device_id LEFT JOIN users u ON u.id = d.user_id")

# $filter fields (Central's names, also under $root/Submissions/ from a repeat table) -> column and kind
_FILTER_FIELDS = {
    "__system/submissionDate": ("s.created_at", "time"),
    "__system/submitterId": ("COALESCE(d.device_id, d.user_id)", "id"),
    "__system/reviewState": ("s.review_state", "state"),
    "__system/deletedAt": ("s.deleted_at", "time"),
}
_PARTS = {"year": (1, 4), "month": (6, 2), "day": (9, 2), "hour": (12, 2), "minute": (15, 2), "second": (18, 2)}
_OPS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


class FilterError(ValueError):
    """A $filter the store cannot turn into SQL (a field or comparison it does not support)."""


def _in_scope_sql(clusters: Iterable[str] | None) -> tuple[str, list]:
    """The cluster rule (permissions.in_scope) as SQL: no limit, or the submission's cluster among those given."""
    if clusters is None:
        return "", []
    condition, allowed = in_list("s.cluster", sorted(clusters))
    return f" AND {condition}", allowed


class CentralQueries:
    """Mixed into both stores; uses their _execute(), _one(), _all(), _scalar(), table_exists(), _table_select(),
    ROW_ORDER and LIST_ORDER."""

    # -- actors and forms -----------------------------------------------------------------------

    def central_last_sign_in(self, email: str) -> str | None:
        return self._scalar("SELECT max(at) FROM audit_log WHERE action = ? AND actor = ?", ["user.sign_in", email])

    def central_form_counts(self, form_id: int, clusters: Iterable[str] | None) -> dict:
        """Submissions of a form by review state, and when the last came (what X-Extended-Metadata shows)."""
        scope, params = _in_scope_sql(clusters)
        rows = self._execute(f"SELECT s.review_state, count(*), max(s.created_at) FROM submissions s "
                             f"WHERE s.form_id = ? AND s.deleted_at IS NULL{scope} GROUP BY s.review_state",
                             [form_id, *params]).fetchall()
        return {"submissions": sum(r[1] for r in rows), "states": {r[0]: r[1] for r in rows},
                "last": max((r[2] for r in rows), default=None)}

    def central_form_created(self, form_id: int) -> str | None:
        return self._scalar("SELECT min(published_at) FROM form_defs WHERE form_id = ?", [form_id])

    def central_form_def(self, def_id: int) -> dict | None:
        return self._one("SELECT id, version, title, hash, published_at, published_by FROM form_defs WHERE id = ?",
                         [def_id])

    def central_form_versions(self, form_id: int) -> list[dict]:
        return self._all("SELECT id, version, title, hash, published_at, published_by FROM form_defs "
                         "WHERE form_id = ? ORDER BY id DESC", [form_id])

    # -- submissions ---------------------------------------------------------------------------

    def central_submissions(self, form_id: int, clusters: Iterable[str] | None, *, odata: bool = False,
                            before_id: int | None = None, limit: int | None = None,
                            where: tuple[str, list] | None = None, instance_id: str | None = None,
                            offset: int = 0) -> list[dict]:
        """Current versions of a form's submissions with their actors, newest first (keyset: before_id)."""
        sql = f"SELECT {_SUBMISSION_COLUMNS}{_ODATA_EXTRA if odata else ''} {_SUBMISSION_FROM} " \
              "WHERE s.form_id = ? AND s.deleted_at IS NULL"
        params: list[Any] = [form_id]
        scope, scope_params = _in_scope_sql(clusters)
        sql += scope
        params += scope_params
        if instance_id is not None:   # through the versions' unique index, not a scan of the form's submissions
            sql += " AND s.instance_id = ? AND s.id = (SELECT submission_id FROM submission_defs " \
                   "WHERE form_id = ? AND instance_id = ?)"
            params += [instance_id, form_id, instance_id]
        if before_id is not None:
            sql += " AND s.id < ?"
            params.append(before_id)
        if where is not None:
            sql += f" AND ({where[0]})"
            params += where[1]
        sql += " ORDER BY s.id DESC"
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [NO_LIMIT if limit is None else limit, offset]
        return self._all(sql, params)

    def central_count(self, form_id: int, clusters: Iterable[str] | None,
                      where: tuple[str, list] | None = None) -> int:
        scope, params = _in_scope_sql(clusters)
        extra = f" AND ({where[0]})" if where else ""
        return self._scalar(
            f"SELECT count(*) FROM submissions s JOIN submission_defs d ON d.id = s.current_def_id "
            f"WHERE s.form_id = ? AND s.deleted_at IS NULL{scope}{extra}",
            [form_id, *params, *(where[1] if where else [])])

    def central_submission(self, form_id: int, instance_id: str) -> dict | None:
        """One submission by its (first) instanceID, whatever its cluster: the caller applies the cluster rule."""
        rows = self.central_submissions(form_id, None, instance_id=instance_id)
        return rows[0] if rows else None

    def central_submission_id(self, form_id: int, instance_id: str) -> int | None:
        """The id of the submission whose first instanceID this is (through the unique (form_id, instance_id)
        index of its versions, so a $skiptoken is found at once whatever the table's size)."""
        return self._scalar("SELECT s.id FROM submission_defs d JOIN submissions s ON s.id = d.submission_id "
                            "WHERE d.form_id = ? AND d.instance_id = ? AND s.instance_id = ?",
                            [form_id, instance_id, instance_id])

    def central_repeat_parents(self, table: str, submission_ids: Sequence[int]) -> set[str]:
        """The keys of the rows (or submissions) that hold at least one row of this repeat table."""
        if not submission_ids or not self.table_exists(table):
            return set()
        return {r[0] for r in self._execute(f"SELECT DISTINCT _parent_key FROM {quote(table)} "
                                            f"WHERE _submission_id IN ({marks(submission_ids)})",
                                            list(submission_ids))}

    def central_repeat_holders(self, table: str, submission_ids: Sequence[int]) -> set[int]:
        """Which of these submissions have rows in this repeat table (read from its _submission_id index alone)."""
        if not submission_ids or not self.table_exists(table):
            return set()
        return {r[0] for r in self._execute(f"SELECT DISTINCT _submission_id FROM {quote(table)} "
                                            f"WHERE _submission_id IN ({marks(submission_ids)})",
                                            list(submission_ids))}

    def central_versions(self, submission_id: int) -> list[dict]:
        return self._all(
            "SELECT d.id AS def_id, d.instance_id AS version_instance_id, d.instance_name, d.device_id, d.user_id, "
            "d.user_agent, d.device_ref, d.received_at, d.is_current, dv.name AS device_name, "
            "dv.created_at AS device_created_at, dv.revoked_at AS device_revoked_at, u.email AS user_email, "
            "u.created_at AS user_created_at, u.disabled_at AS user_disabled_at FROM submission_defs d "
            "LEFT JOIN devices dv ON dv.id = d.device_id LEFT JOIN users u ON u.id = d.user_id "
            "WHERE d.submission_id = ? ORDER BY d.id DESC", [submission_id])

    def central_comments(self, submission_id: int) -> list[dict]:
        return self._all("SELECT c.body, c.at, u.id AS actor_id FROM submission_comments c "
                         "LEFT JOIN users u ON u.email = c.actor WHERE c.submission_id = ? AND c.body <> ? "
                         "ORDER BY c.id", [submission_id, ""])

    # -- typed rows for OData -------------------------------------------------------------------

    def central_main_rows(self, table: str, submission_ids: Sequence[int]) -> tuple[list[str], dict[int, tuple]]:
        """The typed top-level rows of these submissions: (column names, {submission id: row})."""
        columns, select = self._table_select(table)
        if not submission_ids or not columns:
            return [], {}
        cursor = self._execute(f"SELECT {select} FROM {quote(table)} "
                               f"WHERE _submission_id IN ({marks(submission_ids)})", list(submission_ids))
        at = columns.index("_submission_id")
        return columns, {row[at]: row for row in cursor}

    def central_repeat_rows(self, table: str, submission_ids: Sequence[int]) -> tuple[list[str], list[tuple]]:
        """Every row of one repeat table for these submissions, in the order they were written:
        (column names, rows)."""
        columns, select = self._table_select(table)
        if not submission_ids or not columns:
            return [], []
        cursor = self._execute(f"SELECT {select} FROM {quote(table)} "
                               f"WHERE _submission_id IN ({marks(submission_ids)}) "
                               f"ORDER BY _submission_id, {self.ROW_ORDER}", list(submission_ids))
        return columns, cursor.fetchall()

    def central_repeat_page(self, table: str, form_id: int, clusters: Iterable[str] | None,
                            after: tuple[int, int] | None, limit: int | None,
                            where: tuple[str, list] | None = None, instance_id: str | None = None,
                            offset: int = 0) -> tuple[list[str], list[tuple]]:
        """A page of a repeat table, newest submission first and each submission's rows in order; keyset on
        (_submission_id, ROW_ORDER): `after` is the last row sent. Rows carry their ROW_ORDER as _rowid and the
        submission's first instanceID as _root. (column names, rows).

        The rows are read down the table's _submission_id index from `after` on, each joined to its submission:
        CROSS JOIN keeps SQLite from starting at the form's submissions instead (it then sorted every row of the
        table for each page: 2.7 s a page at 500,000 rows, against 4 to 24 ms); PostgreSQL reads CROSS JOIN with
        its WHERE as the inner join it is and plans it itself."""
        columns, select = self._table_select(table, "r.")
        if not columns:
            return [], []
        order = f"r.{self.ROW_ORDER}"
        sql = (f"SELECT {select}, {order} AS _rowid, s.instance_id AS _root FROM {quote(table)} r "
               "CROSS JOIN submissions s CROSS JOIN submission_defs d "
               "WHERE s.id = r._submission_id AND d.id = s.current_def_id AND s.form_id = ? AND s.deleted_at IS NULL")
        params: list[Any] = [form_id]
        scope, scope_params = _in_scope_sql(clusters)
        sql += scope
        params += scope_params
        if instance_id is not None:
            sql += " AND s.instance_id = ? AND r._submission_id = (SELECT submission_id FROM submission_defs " \
                   "WHERE form_id = ? AND instance_id = ?)"
            params += [instance_id, form_id, instance_id]
        if after is not None:   # a range on the index, then the rows of that submission already sent left out
            sql += f" AND r._submission_id <= ? AND (r._submission_id < ? OR {order} > ?)"
            params += [after[0], after[0], after[1]]
        if where is not None:
            sql += f" AND ({where[0]})"
            params += where[1]
        sql += f" ORDER BY r._submission_id DESC, {order}"
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [NO_LIMIT if limit is None else limit, offset]
        cursor = self._execute(sql, params)
        return [*columns, "_rowid", "_root"], cursor.fetchall()

    def central_repeat_count(self, table: str, form_id: int, clusters: Iterable[str] | None,
                             where: tuple[str, list] | None = None, instance_id: str | None = None) -> int:
        if not self.table_exists(table):
            return 0
        scope, params = _in_scope_sql(clusters)
        sql = (f"SELECT count(*) FROM {quote(table)} r JOIN submissions s ON s.id = r._submission_id "
               f"JOIN submission_defs d ON d.id = s.current_def_id WHERE s.form_id = ? AND s.deleted_at IS NULL{scope}")
        args: list[Any] = [form_id, *params]
        if instance_id is not None:
            sql += " AND s.instance_id = ? AND r._submission_id = (SELECT submission_id FROM submission_defs " \
                   "WHERE form_id = ? AND instance_id = ?)"
            args += [instance_id, form_id, instance_id]
        if where is not None:
            sql += f" AND ({where[0]})"
            args += where[1]
        return self._scalar(sql, args)

    # -- the managed lists as Central's datasets -----------------------------------------------------

    def central_list_created(self, project_id: int, list_name: str) -> str | None:
        return self._scalar("SELECT min(added_at) FROM list_items WHERE project_id = ? AND list_name = ?",
                            [project_id, list_name])

    def central_list_entities(self, project_id: int, list_name: str) -> Iterator[tuple[str, dict, str]]:
        """A list's items (name, data, when added) in the order they were added; read as they are sent."""
        cursor = self._execute("SELECT name, data, added_at FROM list_items WHERE project_id = ? AND "
                               f"list_name = ? ORDER BY {self.LIST_ORDER}", [project_id, list_name])
        for name, data, added_at in cursor:
            yield name, json.loads(data), added_at

    # -- $filter -----------------------------------------------------------------------------------

    def central_filter_sql(self, node: tuple) -> tuple[str, list]:
        """A parsed $filter (server.central.odata_filter) as a SQL condition over submissions s and their
        current version d, with its parameters."""
        params: list[Any] = []
        return _condition(node, params), params


def _condition(node: tuple, params: list) -> str:
    kind = node[0]
    if kind in ("and", "or"):
        return f"({_condition(node[1], params)} {kind.upper()} {_condition(node[2], params)})"
    if kind == "not":
        return f"(NOT {_condition(node[1], params)})"
    if kind == "cmp":
        return _comparison(node[1], node[2], node[3], params)
    raise FilterError(f"{kind} is not a condition")


def _comparison(op: str, left: tuple, right: tuple, params: list) -> str:
    if left[0] == "lit" and right[0] != "lit":   # 'x' eq field: the field on the left
        left, right = right, left
        op = {"lt": "gt", "gt": "lt", "le": "ge", "ge": "le"}.get(op, op)
    kind = _kind(left)
    if right == ("lit", None):
        if op not in ("eq", "ne"):
            raise FilterError("null can only be compared with eq or ne")
        if kind == "state":   # Central's null review state is our 'received'
            params.append("received")
            return f"(s.review_state {'=' if op == 'eq' else '<>'} ?)"
        return f"({_operand(left, params, None)} IS {'' if op == 'eq' else 'NOT '}NULL)"
    if kind == "state" and op not in ("eq", "ne"):
        raise FilterError("__system/reviewState can only be compared with eq or ne")
    left_sql = _operand(left, params, None)
    right_sql = _operand(right, params, kind)
    if op == "ne" and kind != "number":   # ne keeps rows where the field is null, as IS DISTINCT FROM does
        return f"({left_sql} IS NULL OR {left_sql} <> {right_sql})"
    return f"({left_sql} {_OPS[op]} {right_sql})"


def _kind(node: tuple) -> str:
    if node[0] == "field":
        return _FILTER_FIELDS[node[1]][1]
    if node[0] in ("fn", "now"):
        return "number" if node[0] == "fn" else "time"
    return "literal"


def _operand(node: tuple, params: list, against: str | None) -> str:
    kind = node[0]
    if kind == "field":
        if node[1] not in _FILTER_FIELDS:
            raise FilterError(f"{node[1]} cannot be filtered on")
        return _FILTER_FIELDS[node[1]][0]
    if kind == "fn":
        start, length = _PARTS[node[1]]
        inner = _operand(node[2], params, "time")
        return f"CAST(substr({inner}, {start}, {length}) AS INTEGER)"
    if kind == "now":
        params.append(_utc(datetime.now(timezone.utc)))
        return "?"
    value = node[1]
    params.append(_literal(value, against))
    return "?"


def _literal(value: Any, against: str | None) -> Any:
    """A literal in the type of what it is compared with: an instant as stored text, an id as a number."""
    if against == "time":
        if not isinstance(value, str):
            raise FilterError(f"{value!r} is not a date or time")
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise FilterError(f"{value!r} is not a date or time") from None
        return _utc(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))
    if against == "id":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise FilterError(f"{value!r} is not a submitter id") from None
    if against == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FilterError(f"{value!r} is not a number")
        return value
    if against == "state" and not isinstance(value, str):
        raise FilterError(f"{value!r} is not a review state")
    return value


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
