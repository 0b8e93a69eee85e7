"""Households added in the field, households gone from the list, and informant groups' letters. Part of the storage
layer: SQL shared by both engines (a mixin of SQLiteStore and PostgresStore)."""

from __future__ import annotations

from typing import Iterable

from .base import in_transaction


class RankingQueries:
    """Mixed into both stores. Writes run inside the caller's ingest transaction."""

    @in_transaction
    def replace_field_households(self, project_id: int, submission_id: int, rows: Iterable[dict]) -> None:
        self._swap_facts("field_households", project_id, submission_id,
                         ("hh_id", "form_id", "cluster", "hamlet", "round", "group_id", "card", "head", "sex"), rows,
                         key=("hh_id",))

    def field_household_reports(self, project_id: int, clusters: Iterable[str] | None = None,
                                hamlet: str | None = None) -> list[dict]:
        """Every current report of a household added in the field (rejected and deleted submissions left out)."""
        where, params = ["h.project_id = ?", "s.deleted_at IS NULL", "s.review_state != 'rejected'"], [project_id]
        if hamlet is not None:
            where.append("h.hamlet = ?")
            params.append(hamlet)
        if clusters is not None:
            chosen = sorted(clusters)
            where.append(f"h.cluster IN ({', '.join('?' * len(chosen))})" if chosen else "1 = 0")
            params += chosen
        return self._all("SELECT h.*, s.instance_name FROM field_households h JOIN submissions s "
                         f"ON s.id = h.submission_id WHERE {' AND '.join(where)} ORDER BY h.hh_id, h.submission_id",
                         params)

    @in_transaction
    def replace_wb_gone(self, project_id: int, submission_id: int, rows: Iterable[dict]) -> None:
        self._swap_facts("wb_gone", project_id, submission_id,
                         ("hh_id", "round", "cluster", "hamlet", "group_id", "reason", "into_hh"),
                         ({**r, "into_hh": r["into"]} for r in rows), key=("hh_id",))

    def wb_gone(self, project_id: int, round_no: int, hamlet: str, cluster: str | None) -> list[dict]:
        """Households a group of this hamlet (in `cluster`, None: any) said are not a household any more."""
        in_cluster, params = ("", []) if cluster is None else (" AND g.cluster = ?", [cluster])
        return self._all("SELECT g.* FROM wb_gone g JOIN submissions s ON s.id = g.submission_id "
                         f"WHERE g.project_id = ? AND g.round = ? AND g.hamlet = ?{in_cluster} "
                         "AND s.deleted_at IS NULL AND s.review_state != 'rejected' ORDER BY g.hh_id, g.group_id",
                         [project_id, round_no, hamlet, *params])

    def group_clashes(self, project_id: int, submission_id: int, round_no: int, cluster: str, hamlet: str,
                      group_id: str) -> list[dict]:
        """Other current rankings of the same hamlet, round and group letter (ratings are what they count by)."""
        return self._all(
            "SELECT DISTINCT r.submission_id, d.device_id, v.name AS device FROM wb_ratings r "
            "JOIN submissions s ON s.id = r.submission_id JOIN submission_defs d ON d.id = s.current_def_id "
            "LEFT JOIN devices v ON v.id = d.device_id "
            "WHERE r.project_id = ? AND r.round = ? AND r.cluster = ? AND r.hamlet = ? AND r.group_id = ? "
            "AND r.submission_id != ? ORDER BY r.submission_id", [project_id, round_no, cluster, hamlet, group_id,
                                                                   submission_id])

    @in_transaction
    def replace_wb_validated(self, project_id: int, submission_id: int, rows: list[dict]) -> set[tuple[int, str]]:
        """Swap a validation meeting's outcomes; returns every (round, household) whose category may change."""
        touched = self._touched("wb_validated", submission_id)
        self._swap_facts("wb_validated", project_id, submission_id,
                         ("round", "hh_id", "cluster", "hamlet", "category", "reason"), rows,
                         key=("round", "hh_id"))
        return touched | {(r["round"], r["hh_id"]) for r in rows}

    def wb_validated_of_many(self, project_id: int, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], dict]:
        """The latest validation meeting's outcome for each (round, household) that has one."""
        out: dict[tuple[int, str], dict] = {}
        by_round: dict[int, list[str]] = {}
        for round_no, hh_id in keys:
            by_round.setdefault(round_no, []).append(hh_id)
        for round_no, hh_ids in by_round.items():
            wanted = sorted(set(hh_ids))
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                for row in self._all(f"SELECT * FROM wb_validated WHERE project_id = ? AND round = ? AND hh_id IN "
                                     f"({', '.join('?' * len(chunk))}) ORDER BY submission_id",
                                     [project_id, round_no, *chunk]):
                    out[(round_no, row["hh_id"])] = row
        return out
