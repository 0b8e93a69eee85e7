"""Review: the submissions list with its filters, review states and comments, node reviews, overview counts.
SQL shared by both engines (a mixin of SQLiteStore and PostgresStore): SQL lives only in server/storage/."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from .base import in_transaction, now

REVIEW_STATES = ("received", "edited", "hasIssues", "approved", "rejected")


class ReviewQueries:
    """Mixed into both stores; uses the engine's transaction(), _execute() and the base helpers."""

    @in_transaction
    def set_submission_scope(self, submission_id: int, cluster: str | None, hamlet: str | None,
                             round_no: int | None, n_flags: int, instance_name: str | None) -> None:
        """Keep the list filters on the submission row (inside the ingest transaction)."""
        self._execute("UPDATE submissions SET cluster = ?, hamlet = ?, round = ?, n_flags = ?, instance_name = ? "
                        "WHERE id = ?", [cluster, hamlet, round_no, n_flags, instance_name, submission_id])

    def submission_page(self, project_id: int, filters: Mapping[str, Any], clusters: Iterable[str] | None,
                        limit: int = 50, before_id: int | None = None) -> list[dict]:
        """Newest first, keyset-paged on id, so page 2,000 of a million rows costs what page 1 does."""
        where, params = ["s.project_id = ?", "s.deleted_at IS NULL"], [project_id]
        for column, key in (("f.xml_form_id", "form"), ("s.cluster", "cluster"), ("s.hamlet", "hamlet"),
                            ("s.round", "round"), ("s.review_state", "review_state")):
            if filters.get(key) not in (None, ""):
                where.append(f"{column} = ?")
                params.append(filters[key])
        if filters.get("since"):
            where.append("s.created_at >= ?")
            params.append(filters["since"])
        if filters.get("until"):
            where.append("s.created_at < ?")
            params.append(filters["until"])
        if filters.get("flagged"):
            where.append("s.n_flags > 0")
        if clusters is not None:
            allowed = sorted(clusters)
            where.append(f"s.cluster IN ({', '.join('?' for _ in allowed)})" if allowed else "1 = 0")
            params.extend(allowed)
        if before_id:
            where.append("s.id < ?")
            params.append(before_id)
        return self._all(
            "SELECT s.id, s.instance_id, s.review_state, s.created_at, s.updated_at, s.cluster, s.hamlet, s.round, "
            "s.n_flags, s.instance_name, f.xml_form_id FROM submissions s JOIN forms f ON f.id = s.form_id "
            f"WHERE {' AND '.join(where)} ORDER BY s.id DESC LIMIT ?", params + [limit])

    def submission_by_id(self, project_id: int, submission_id: int) -> dict | None:
        return self._one(
            "SELECT s.*, f.xml_form_id, d.id AS def_id, d.form_def_id, d.instance_id AS current_instance_id, "
            "d.deprecated_id, d.device_id, d.user_agent, d.device_ref, d.received_at, d.encrypted, fd.version "
            "FROM submissions s JOIN forms f ON f.id = s.form_id JOIN submission_defs d ON d.id = s.current_def_id "
            "JOIN form_defs fd ON fd.id = d.form_def_id WHERE s.project_id = ? AND s.id = ? AND s.deleted_at IS NULL",
            [project_id, submission_id])

    def set_review_state(self, submission_id: int, state: str, actor: str, comment: str) -> None:
        with self.transaction():
            self._execute("UPDATE submissions SET review_state = ? WHERE id = ?", [state, submission_id])
            self._execute("INSERT INTO submission_comments (submission_id, at, actor, review_state, body) "
                          "VALUES (?, ?, ?, ?, ?)", [submission_id, now(), actor, state, comment])

    def add_comment(self, submission_id: int, actor: str, body: str) -> None:
        with self.transaction():
            self._execute("INSERT INTO submission_comments (submission_id, at, actor, body) "
                          "VALUES (?, ?, ?, ?)", [submission_id, now(), actor, body])

    def comments(self, submission_id: int) -> list[dict]:
        return self._all("SELECT * FROM submission_comments WHERE submission_id = ? ORDER BY id", [submission_id])

    def submission_attachment(self, submission_id: int, name: str) -> dict | None:
        return self._one("SELECT a.name, a.content_type, a.blob_sha256 FROM submissions s "
                         "JOIN submission_attachments a ON a.def_id = s.current_def_id "
                         "WHERE s.id = ? AND a.name = ? AND a.blob_sha256 IS NOT NULL", [submission_id, name])

    # -- overview -------------------------------------------------------------------------------

    def overview_counts(self, project_id: int, clusters: Iterable[str] | None) -> dict:
        where, params = "project_id = ? AND deleted_at IS NULL", [project_id]
        if clusters is not None:
            allowed = sorted(clusters)
            where += f" AND cluster IN ({', '.join('?' for _ in allowed)})" if allowed else " AND 1 = 0"
            params += allowed
        by_state = dict(self._execute(f"SELECT review_state, count(*) FROM submissions WHERE {where} "
                                        "GROUP BY review_state", params).fetchall())
        flagged = self._execute(f"SELECT count(*) FROM submissions WHERE {where} AND n_flags > 0 AND "
                                  "review_state IN ('received', 'edited')", params).fetchone()[0]
        by_form = self._all(f"SELECT f.xml_form_id, f.state, count(s.id) AS n FROM forms f LEFT JOIN submissions s "
                            f"ON s.form_id = f.id AND s.{where.replace('project_id = ?', 'project_id = f.project_id')} "
                            "WHERE f.project_id = ? GROUP BY f.id ORDER BY f.xml_form_id", params[1:] + [project_id])
        return {"by_state": by_state, "flagged_unreviewed": flagged, "by_form": by_form}

    def submissions_per_day(self, project_id: int, since: str, clusters: Iterable[str] | None) -> list[dict]:
        where, params = "s.project_id = ? AND s.deleted_at IS NULL AND s.created_at >= ?", [project_id, since]
        if clusters is not None:
            allowed = sorted(clusters)
            where += f" AND s.cluster IN ({', '.join('?' for _ in allowed)})" if allowed else " AND 1 = 0"
            params += allowed
        return self._all("SELECT substr(s.created_at, 1, 10) AS day, f.xml_form_id, count(*) AS n FROM submissions s "
                         f"JOIN forms f ON f.id = s.form_id WHERE {where} GROUP BY day, f.xml_form_id ORDER BY day",
                         params)

    # -- poverty-node reviews ---------------------------------------------------------------------

    def add_node_review(self, project_id: int, round_no: int, node_id: str, status: str, actor: str,
                        comment: str) -> None:
        with self.transaction():
            self._execute("INSERT INTO node_reviews (project_id, round, node_id, status, actor, at, comment) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [project_id, round_no, node_id, status, actor, now(), comment])

    def node_reviews(self, project_id: int, round_no: int | None) -> dict[str, list[dict]]:
        in_round, params = ("", []) if round_no is None else (" AND round = ?", [round_no])
        rows = self._all(f"SELECT * FROM node_reviews WHERE project_id = ?{in_round} ORDER BY id",
                         [project_id, *params])
        out: dict[str, list[dict]] = {}
        for row in rows:
            out.setdefault(row["node_id"], []).append(row)
        return out

    # -- the community validation sheet ------------------------------------------------------------

    def hamlet_piles(self, project_id: int, round_no: int, hamlet: str, cluster: str | None = None) -> list[dict]:
        """Each informant group's own piles (label, criteria, level) for a hamlet and round (and cluster: the
        submission's, as the submissions list filters it; None: any)."""
        table = f"data_{project_id}_well_being_ranking"
        if not self.table_exists(table) or not self.table_exists(f"{table}__pile"):
            return []
        in_cluster, params = ("", []) if cluster is None else (" AND s.cluster = ?", [cluster])
        return self._all(
            f'SELECT m."group_id" AS group_id, m."group_label" AS group_label, p."pile_no" AS pile_no, '
            f'p."pile_label" AS pile_label, p."pile_criteria" AS pile_criteria, p."pile_level" AS pile_level '
            f'FROM "{table}" m JOIN "{table}__pile" p ON p._submission_id = m._submission_id '
            f'JOIN submissions s ON s.id = m._submission_id '
            f"WHERE s.project_id = ? AND s.deleted_at IS NULL AND s.review_state != 'rejected' "
            f'AND m."hamlet" = ? AND m."round" = ?{in_cluster} '
            f'ORDER BY m."group_id", p."pile_no"',
            [project_id, hamlet, round_no, *params])

    def household_labels(self, project_id: int, hh_ids: Iterable[str]) -> dict[str, str]:
        ids = sorted(set(hh_ids))
        out: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for name, label in self._execute(
                    f"SELECT name, {self.JSON_FIELD.format('data')} FROM list_items WHERE project_id = ? AND "
                    f"list_name = 'households.csv' AND name IN ({', '.join('?' for _ in chunk)})",
                    ["label", project_id, *chunk]):
                out[name] = label or name
        return out
