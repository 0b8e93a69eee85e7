"""Enumerator monitoring: each submission's monitoring facts (written at ingest, in its transaction) and the reads
the monitoring page aggregates. A query module shared by both stores (contract.py: MonitoringStore):
SQL written once with ? placeholders and ON CONFLICT upserts, run on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

from .base import in_list, in_transaction

FACT_COLUMNS = ("form_id", "enumerator", "day", "cluster", "hamlet", "round", "hh_id", "duration_s",
                "duration_source", "n_asked", "n_dk", "n_refused", "n_flags", "income_pc", "consumption_pc", "lat",
                "lon")


class MonitoringQueries:
    """Mixed into both stores; uses their _execute(), transaction(), _one() and _all()."""

    @in_transaction
    def replace_monitor_fact(self, project_id: int, submission_id: int, fact: Mapping[str, Any]) -> None:
        """A submission's monitoring facts, replacing those of its earlier version (inside the caller's
        transaction)."""
        names = ", ".join(FACT_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in FACT_COLUMNS)
        self._execute(
            f"INSERT INTO monitor_facts (submission_id, project_id, {names}) "
            f"VALUES (?, ?, {', '.join('?' for _ in FACT_COLUMNS)}) "
            f"ON CONFLICT (submission_id) DO UPDATE SET project_id = excluded.project_id, {updates}",
            [submission_id, project_id, *(fact.get(c) for c in FACT_COLUMNS)])

    def monitor_fact(self, submission_id: int) -> dict | None:
        """A submission's monitoring facts, or None."""
        return self._one("SELECT * FROM monitor_facts WHERE submission_id = ?", [submission_id])

    @in_transaction
    def set_monitor_duration(self, submission_id: int, seconds: float, source: str) -> None:
        """The interview's length once its audit log has arrived (a split upload's later part)."""
        self._execute("UPDATE monitor_facts SET duration_s = ?, duration_source = ? WHERE submission_id = ?",
                      [seconds, source, submission_id])

    def clear_monitor_facts(self, project_id: int) -> None:
        """Forget a project's monitoring facts (before they are rebuilt)."""
        with self.transaction():
            self._execute("DELETE FROM monitor_facts WHERE project_id = ?", [project_id])

    def monitor_facts(self, project_id: int, clusters: Iterable[str] | None, since: str | None = None,
                      until: str | None = None, form: str | None = None,
                      in_clusters: Iterable[str] | None = None) -> list[dict]:
        """The facts of current, not deleted submissions with their review state: interview days from `since` to
        `until` (inclusive, YYYY-MM-DD), of one form, in the reader's clusters (None: all), and, given
        `in_clusters`, only in those."""
        where, params = ["m.project_id = ?", "s.deleted_at IS NULL"], [project_id]
        for condition, value in (("m.day >= ?", since), ("m.day <= ?", until), ("m.form_id = ?", form)):
            if value:
                where.append(condition)
                params.append(value)
        for limit in (clusters, in_clusters):
            if limit is not None:
                condition, values = in_list("m.cluster", sorted(limit))
                where.append(condition)
                params += values
        return self._all(
            "SELECT m.*, s.review_state FROM monitor_facts m JOIN submissions s ON s.id = m.submission_id "
            f"WHERE {' AND '.join(where)} ORDER BY m.day, m.submission_id", params)

    def monitor_enumerator_names(self, project_id: int) -> dict[str, str]:
        """What the page calls each enumerator: a device by its name, a user by their e-mail."""
        names = {f"device:{r['id']}": r["name"] for r in self._all(
            "SELECT id, name FROM devices WHERE project_id = ?", [project_id])}
        names.update({f"user:{r['id']}": r["email"] for r in self._all(
            "SELECT DISTINCT u.id, u.email FROM users u JOIN submission_defs d ON d.user_id = u.id "
            "JOIN submissions s ON s.id = d.submission_id WHERE s.project_id = ?", [project_id])})
        return names

    def monitor_sources(self, project_id: int) -> Iterator[dict]:
        """Every current, not deleted submission of a project with what its facts are made from, oldest first."""
        cursor = self._execute(
            "SELECT s.id AS submission_id, s.n_flags, f.xml_form_id, d.id AS def_id, d.form_def_id, d.xml, "
            "d.encrypted, d.device_id, d.user_id, d.received_at FROM submissions s "
            "JOIN forms f ON f.id = s.form_id JOIN submission_defs d ON d.id = s.current_def_id "
            "WHERE s.project_id = ? AND s.deleted_at IS NULL ORDER BY s.id", [project_id])
        names = [c[0] for c in cursor.description]
        for row in cursor:
            yield dict(zip(names, row))

    def client_audit(self, def_id: int) -> bytes | None:
        """The bytes of a submission version's audit log (audit.csv), if it has arrived."""
        row = self._one("SELECT b.content FROM submission_attachments a JOIN blobs b ON b.sha256 = a.blob_sha256 "
                        "WHERE a.def_id = ? AND a.is_client_audit = 1 AND a.blob_sha256 IS NOT NULL", [def_id])
        return bytes(row["content"]) if row else None
