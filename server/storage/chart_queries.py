"""Charts, the map and titles: submissions per day by form or enumerator, households' GPS points, the rounds that
have poverty-node records, and what each listed submission is about. A query module shared by both
stores (contract.py: ChartStore): SQL written once for SQLite and PostgreSQL (`?` placeholders, COALESCE, substr on
ISO text); typed data tables are named by server.rows.table_name and quoted."""

from __future__ import annotations

from typing import Iterable

from .base import in_list, quote

ENUMERATOR_KINDS = ("device", "user")


class ChartQueries:
    """Mixed into both stores; uses their _all(), table_exists() and _table_columns()."""

    def submissions_per_day_by(self, project_id: int, since: str, clusters: Iterable[str] | None,
                               by: str) -> list[dict]:
        """Submissions received per day (UTC) since `since` (YYYY-MM-DD), by form ("form": key = form id, label =
        its title) or by enumerator ("enumerator": key = device:<id> or user:<id>, label = the device's name or the
        user's e-mail; the phone or user that sent the current version). Deleted submissions are left out."""
        where, params = ["s.project_id = ?", "s.deleted_at IS NULL", "s.created_at >= ?"], [project_id, since]
        if clusters is not None:
            condition, allowed = in_list("s.cluster", sorted(clusters))
            where.append(condition)
            params += allowed
        if by == "form":
            key, label, joins = "f.xml_form_id", "COALESCE(fd.title, f.xml_form_id)", (
                "JOIN forms f ON f.id = s.form_id JOIN form_defs fd ON fd.id = f.current_def_id")
        elif by == "enumerator":
            key = ("CASE WHEN d.device_id IS NOT NULL THEN 'device:' || CAST(d.device_id AS TEXT) "
                   "WHEN d.user_id IS NOT NULL THEN 'user:' || CAST(d.user_id AS TEXT) ELSE 'unknown' END")
            label = "COALESCE(dv.name, u.email, 'not known')"
            joins = ("JOIN submission_defs d ON d.id = s.current_def_id LEFT JOIN devices dv ON dv.id = d.device_id "
                     "LEFT JOIN users u ON u.id = d.user_id")
        else:
            raise ValueError("by must be form or enumerator")
        return self._all(f"SELECT substr(s.created_at, 1, 10) AS day, {key} AS key, {label} AS label, "
                         f"count(*) AS n FROM submissions s {joins} WHERE {' AND '.join(where)} "
                         f"GROUP BY substr(s.created_at, 1, 10), {key}, {label} ORDER BY day, key", params)

    def household_points(self, project_id: int, round_no: int, data_table: str, cluster: str | None = None,
                         hamlet: str | None = None) -> list[dict]:
        """Each household income interview of the round (kept in hh_income: current, not rejected) with the raw
        geopoint its typed row holds (`gps`, "lat lon altitude accuracy") and the household's final well-being
        category of the same round (None: not ranked)."""
        if "gps" not in self._table_columns(data_table):
            return []   # no interview yet, or a form published without the gps question
        where, params = ["h.project_id = ?", "h.round = ?"], [project_id, round_no]
        for column, value in (("h.cluster", cluster), ("h.hamlet", hamlet)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        return self._all(
            f"SELECT h.hh_id, h.cluster, h.hamlet, h.submission_id, d.gps AS gps, w.final AS category "
            f"FROM hh_income h JOIN {quote(data_table)} d ON d._submission_id = h.submission_id "
            f"LEFT JOIN wb_households w ON w.project_id = h.project_id AND w.round = h.round AND w.hh_id = h.hh_id "
            f"WHERE {' AND '.join(where)} ORDER BY h.hamlet, h.hh_id", params)

    def node_rounds(self, project_id: int, clusters: Iterable[str] | None = None) -> list[int]:
        """The rounds with a poverty-node record (in these clusters; None: any), ascending."""
        return self._rounds("node_records", ["project_id = ?"], [project_id], clusters)

    def submission_subjects(self, data_table: str, columns: tuple[str, ...], submission_ids: list[int]) -> dict:
        """{submission id: {column: value}} from a form's typed table, for the few submissions of one page;
        columns the table lacks (an older form version) are None."""
        if not submission_ids or not self.table_exists(data_table):
            return {}
        condition, ids = in_list("_submission_id", submission_ids)
        rows = self._all(f"SELECT * FROM {quote(data_table)} WHERE {condition}", ids)
        return {r["_submission_id"]: {c: r.get(c) for c in columns} for r in rows}

    def hamlet_rounds(self, project_id: int, hamlet: str, clusters: Iterable[str] | None = None) -> list[int]:
        """The rounds in which a hamlet has ranked households (in these clusters; None: any), ascending."""
        return self._rounds("wb_households", ["project_id = ?", "hamlet = ?"], [project_id, hamlet], clusters)

    def _rounds(self, table: str, where: list[str], params: list, clusters: Iterable[str] | None) -> list[int]:
        """The distinct rounds of a table's rows that meet `where` and lie in these clusters (None: any)."""
        if clusters is not None:
            condition, allowed = in_list("cluster", sorted(clusters))
            where, params = [*where, condition], [*params, *allowed]
        return [r["round"] for r in self._all(f"SELECT DISTINCT round FROM {table} WHERE {' AND '.join(where)} "
                                              "ORDER BY round", params)]
