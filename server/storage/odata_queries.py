"""The OData entity bodies kept per submission version (odata_entities, migration m016), so that a default page of
a form's `Submissions` splices stored JSON instead of building every row. Part of the storage layer (a query mixin
of both stores): portable SQL."""

from __future__ import annotations

from typing import Sequence

from .base import in_transaction


class ODataQueries:
    """Mixed into both stores; uses their _execute(), _all()."""

    @in_transaction
    def put_odata_entity(self, def_id: int, form_def_id: int, body: str) -> None:
        """Keep a submission version's OData entity body, made against form version form_def_id (replaced)."""
        self._execute("INSERT INTO odata_entities (def_id, form_def_id, body) VALUES (?, ?, ?) "
                      "ON CONFLICT (def_id) DO UPDATE SET form_def_id = excluded.form_def_id, body = excluded.body",
                      [def_id, form_def_id, body])

    def odata_entities(self, def_ids: Sequence[int], form_def_id: int) -> dict[int, str]:
        """The kept bodies of these submission versions that were made against form version form_def_id."""
        if not def_ids:
            return {}
        marks = ", ".join("?" for _ in def_ids)
        rows = self._all(f"SELECT def_id, body FROM odata_entities WHERE def_id IN ({marks}) AND form_def_id = ?",
                         [*def_ids, form_def_id])
        return {r["def_id"]: r["body"] for r in rows}

    def odata_entity_sources(self, form_id: int, submission_ids: Sequence[int] | None = None) -> list[dict]:
        """What an entity body needs of these submissions' current versions (None: every submission of the form,
        deleted ones too), by id: the version, its instanceID, instanceName, deprecatedID, and whether encrypted."""
        sql = ("SELECT s.id, s.instance_id, d.id AS def_id, d.instance_id AS version_instance_id, d.instance_name, "
               "d.deprecated_id, d.encrypted FROM submissions s JOIN submission_defs d ON d.id = s.current_def_id "
               "WHERE s.form_id = ?")
        params: list = [form_id]
        if submission_ids is not None:
            if not submission_ids:
                return []
            sql += f" AND s.id IN ({', '.join('?' for _ in submission_ids)})"
            params += list(submission_ids)
        return self._all(sql + " ORDER BY s.id", params)
