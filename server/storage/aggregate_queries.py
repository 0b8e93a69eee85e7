"""The aggregates kept at ingest: well-being ratings and categories with their counts, household income with its
counts and poverty lines, poverty-node records, and what a rebuild needs. SQL shared by both engines (a mixin of
SQLiteStore and PostgresStore). The writes marked @in_transaction are steps of one ingest (or rebuild) and run only
inside the caller's store.transaction().

The counts move by deltas (INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n) after reading the rows they
replace: that read-modify-write is exact because writers never overlap (SQLite: one writer at a time; PostgreSQL:
every write transaction takes the same advisory lock first, see postgres_engine.py)."""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .base import chunks, in_transaction

_INCOME_COUNTS = ("n_hh", "n_persons", "n_no_line", "n_incomplete", "poor_hh", "poor_persons", "gap_hh", "gap_persons",
                  "gap2_hh", "gap2_persons")
_INCOME_COUNT_UPSERT = (
    f"INSERT INTO income_counts (project_id, round, cluster, hamlet, node, {', '.join(_INCOME_COUNTS)}) "
    f"VALUES (?, ?, ?, ?, ?, {', '.join('?' * len(_INCOME_COUNTS))}) ON CONFLICT (project_id, round, cluster, hamlet, "
    f"node) DO UPDATE SET {', '.join(f'{c} = income_counts.{c} + excluded.{c}' for c in _INCOME_COUNTS)}")
_WB_HOUSEHOLD_COLUMNS = ("project_id", "round", "hh_id", "cluster", "hamlet", "node", "n_groups", "mean", "final",
                         "flagged", "flags", "combined", "validated_reason")
_WB_HOUSEHOLD_INSERT = (f"INSERT INTO wb_households ({', '.join(_WB_HOUSEHOLD_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(_WB_HOUSEHOLD_COLUMNS))})")


def _unvalidated(row: Mapping[str, Any]) -> dict:
    """A household row given without a validation: the category that counts is the combined one."""
    return {"combined": row.get("final"), "validated_reason": None}


class AggregateQueries:
    """Mixed into both stores; uses the engine's transaction(), _execute(), _executemany() and dialect hooks."""

    # -- aggregates: well-being ---------------------------------------------------

    @in_transaction
    def _swap_facts(self, table: str, project_id: int, submission_id: int, columns: tuple[str, ...],
                    rows: Iterable[Mapping[str, Any]], key: tuple[str, ...]) -> None:
        """Replace the rows a submission keeps in a fact table (ratings, field households, ...) with `rows`, each
        a mapping of `columns`; project_id and submission_id are added. Of rows with the same `key` (the columns
        that with project and submission make the primary key) the last one counts. Runs in the caller's ingest
        transaction."""
        self._execute(f"DELETE FROM {table} WHERE submission_id = ?", [submission_id])
        last = {tuple(r[c] for c in key): r for r in rows}
        self._executemany(
            f"INSERT INTO {table} (project_id, submission_id, {', '.join(columns)}) "
            f"VALUES ({', '.join('?' * (len(columns) + 2))})",
            [(project_id, submission_id, *(r[c] for c in columns)) for r in last.values()])

    def _touched(self, table: str, submission_id: int) -> set[tuple[int, str]]:
        """The (round, household) pairs a submission's rows in `table` name."""
        return {(r, h) for r, h in self._execute(f"SELECT round, hh_id FROM {table} WHERE submission_id = ?",
                                                    [submission_id])}

    @in_transaction
    def replace_wb_ratings(self, project_id: int, submission_id: int, rows: list[dict]) -> set[tuple[int, str]]:
        """Swap a submission's ratings; returns every (round, household) whose combination may change."""
        touched = self._touched("wb_ratings", submission_id)
        self._swap_facts("wb_ratings", project_id, submission_id,
                         ("round", "hh_id", "group_id", "cluster", "hamlet", "level", "pile", "piles"), rows,
                         key=("round", "hh_id"))
        return touched | {(r["round"], r["hh_id"]) for r in rows}

    def wb_ratings_of(self, project_id: int, round_no: int, hh_id: str) -> list[dict]:
        return self._all("SELECT * FROM wb_ratings WHERE project_id = ? AND round = ? AND hh_id = ? "
                         "ORDER BY submission_id", [project_id, round_no, hh_id])

    def wb_ratings_of_many(self, project_id: int, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], list[dict]]:
        """wb_ratings_of for many (round, household) at once: {key: its ratings by submission} (absent: none)."""
        by_round: dict[int, list[str]] = {}
        for round_no, hh_id in keys:
            by_round.setdefault(round_no, []).append(hh_id)
        out: dict[tuple[int, str], list[dict]] = {}
        for round_no, hh_ids in by_round.items():
            for chunk in chunks(sorted(set(hh_ids))):
                for row in self._all(f"SELECT * FROM wb_ratings WHERE project_id = ? AND round = ? AND hh_id IN "
                                     f"({', '.join('?' * len(chunk))}) ORDER BY submission_id",
                                     [project_id, round_no, *chunk]):
                    out.setdefault((round_no, row["hh_id"]), []).append(row)
        return out

    def wb_ratings(self, project_id: int, round_no: int, cluster: str | None = None,
                   hamlet: str | None = None) -> list[dict]:
        where, params = self._scope(project_id, round_no, cluster, hamlet)
        return self._all(f"SELECT * FROM wb_ratings WHERE {where} ORDER BY hh_id, submission_id", params)

    @in_transaction
    def set_wb_household(self, project_id: int, round_no: int, hh_id: str, row: Mapping[str, Any] | None) -> None:
        """Write (or remove) a household's combined category and move the counts by the difference."""
        self._move_wb_transitions(project_id, [(round_no, hh_id, row)])
        old = self._one("SELECT * FROM wb_households WHERE project_id = ? AND round = ? AND hh_id = ?",
                        [project_id, round_no, hh_id])
        if old is not None:
            self._wb_count(project_id, old, -1)
            self._execute("DELETE FROM wb_households WHERE project_id = ? AND round = ? AND hh_id = ?",
                       [project_id, round_no, hh_id])
        if row is not None:
            new = {"project_id": project_id, "round": round_no, "hh_id": hh_id, **_unvalidated(row), **row}
            self._execute(_WB_HOUSEHOLD_INSERT, [new[c] for c in _WB_HOUSEHOLD_COLUMNS])
            self._wb_count(project_id, new, +1)

    @in_transaction
    def set_wb_households(self, project_id: int, items: Sequence[tuple[int, str, Mapping[str, Any] | None]]) -> None:
        """set_wb_household for many distinct (round, household) at once, with the same end state: old rows
        read in one query per round, rows written with executemany, and the count moves summed per scope."""
        self._move_wb_transitions(project_id, items)
        old: dict[tuple[int, str], dict] = {}
        by_round: dict[int, list[str]] = {}
        for round_no, hh_id, _ in items:
            by_round.setdefault(round_no, []).append(hh_id)
        for round_no, hh_ids in by_round.items():
            for chunk in chunks(sorted(set(hh_ids))):
                for row in self._all(f"SELECT * FROM wb_households WHERE project_id = ? AND round = ? AND hh_id IN "
                                     f"({', '.join('?' * len(chunk))})", [project_id, round_no, *chunk]):
                    old[(round_no, row["hh_id"])] = row
        moves: dict[tuple, list[int]] = {}

        def move(row: Mapping[str, Any], sign: int) -> None:
            key = (row["round"], row["cluster"] or "", row["hamlet"] or "", row["node"] or "",
                   row["final"] or "unrated")
            total = moves.setdefault(key, [0, 0])
            total[0] += sign
            total[1] += sign * int(bool(row["flagged"]))

        deletes, inserts = [], []
        for round_no, hh_id, row in items:
            previous = old.get((round_no, hh_id))
            if previous is not None:
                move(previous, -1)
                deletes.append((project_id, round_no, hh_id))
            if row is not None:
                new = {"project_id": project_id, "round": round_no, "hh_id": hh_id, **_unvalidated(row), **row}
                inserts.append(new)
                move(new, +1)
        if deletes:
            self._executemany("DELETE FROM wb_households WHERE project_id = ? AND round = ? AND hh_id = ?", deletes)
        if inserts:
            self._executemany(_WB_HOUSEHOLD_INSERT, [[new[c] for c in _WB_HOUSEHOLD_COLUMNS] for new in inserts])
        if moves:
            self._executemany(
                "INSERT INTO wb_counts (project_id, round, cluster, hamlet, node, final, n, n_flagged) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, round, cluster, hamlet, node, final) "
                "DO UPDATE SET n = wb_counts.n + excluded.n, n_flagged = wb_counts.n_flagged + excluded.n_flagged",
                [(project_id, *key, n, n_flagged) for key, (n, n_flagged) in moves.items()])

    def _wb_count(self, project_id: int, row: Mapping[str, Any], sign: int) -> None:
        self._execute(
            "INSERT INTO wb_counts (project_id, round, cluster, hamlet, node, final, n, n_flagged) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, round, cluster, hamlet, node, final) "
            "DO UPDATE SET n = wb_counts.n + excluded.n, n_flagged = wb_counts.n_flagged + excluded.n_flagged",
            [project_id, row["round"], row["cluster"] or "", row["hamlet"] or "", row["node"] or "",
             row["final"] or "unrated", sign, sign * int(bool(row["flagged"]))])

    def wb_households(self, project_id: int, round_no: int, cluster: str | None = None,
                      hamlet: str | None = None) -> list[dict]:
        where, params = self._scope(project_id, round_no, cluster, hamlet)
        return self._all(f"SELECT * FROM wb_households WHERE {where} ORDER BY hh_id", params)

    @in_transaction
    def set_household_node(self, project_id: int, hh_id: str, node: str) -> None:
        """A household's poverty node became known: move its well-being counts to that node, in every round."""
        for row in self._all("SELECT * FROM wb_households WHERE project_id = ? AND hh_id = ? "
                             "AND node IS DISTINCT FROM ?", [project_id, hh_id, node]):
            self.set_wb_household(project_id, row["round"], hh_id, {**{k: row[k] for k in (
                "cluster", "hamlet", "n_groups", "mean", "final", "flagged", "flags", "combined",
                "validated_reason")}, "node": node})

    def household_node(self, project_id: int, hh_id: str) -> str:
        """The node a household belongs to: from its latest income interview, else from the household list."""
        row = self._execute("SELECT node FROM hh_income WHERE project_id = ? AND hh_id = ? AND node IS NOT NULL "
                              "AND node != '' ORDER BY round DESC LIMIT 1", [project_id, hh_id]).fetchone()
        if row:
            return row[0]
        row = self._execute(f"SELECT {self.JSON_FIELD.format('data')} FROM list_items WHERE project_id = ? "
                            "AND list_name = 'households.csv' AND name = ?", ["node", project_id, hh_id]).fetchone()
        return (row[0] or "") if row else ""

    def household_nodes(self, project_id: int, hh_ids: Iterable[str]) -> dict[str, str]:
        """household_node for many households at once: {hh_id: node}."""
        wanted = sorted(set(hh_ids))
        out: dict[str, str] = {}
        for chunk in chunks(wanted):
            for hh_id, node, *_ in self._execute(self._latest_nodes_sql(len(chunk)), [project_id, *chunk]):
                out[hh_id] = node
        rest = [h for h in wanted if h not in out]
        for chunk in chunks(rest):
            for hh_id, node in self._execute(
                    f"SELECT name, {self.JSON_FIELD.format('data')} FROM list_items WHERE project_id = ? "
                    f"AND list_name = 'households.csv' AND name IN ({', '.join('?' * len(chunk))})",
                    ["node", project_id, *chunk]):
                out[hh_id] = node or ""
        return {h: out.get(h, "") for h in wanted}

    def wb_count_rows(self, project_id: int, round_no: int, cluster: str | None = None, hamlet: str | None = None,
                      node: str | None = None, by: Sequence[str] = ()) -> list[dict]:
        """Summed counts per category, grouped by any of cluster, hamlet, node: no submission is read."""
        where, params = self._scope(project_id, round_no, cluster, hamlet)
        if node is not None:
            where, params = where + " AND node = ?", params + [node]
        groups = [c for c in by if c in {"cluster", "hamlet", "node"}]
        cols = "".join(f"{c}, " for c in groups)
        return self._all(f"SELECT {cols}final, sum(n) AS n, sum(n_flagged) AS n_flagged FROM wb_counts "
                         f"WHERE {where} GROUP BY {cols}final HAVING sum(n) != 0 ORDER BY {cols}final", params)

    def rounds(self, project_id: int, clusters: Iterable[str] | None = None) -> list[int]:
        """The rounds with any counts (in these clusters; None: any), ascending. Each step seeks the next round in
        the primary key (project_id, round, ...), so the cost grows with the number of rounds, not of count rows;
        with clusters, the project's count rows are read (one per round, cluster, hamlet, node and category)."""
        if clusters is not None:
            return self._cluster_rounds(project_id, sorted(clusters))
        found: set[int] = set()
        for table in ("wb_counts", "income_counts"):
            found.update(r[0] for r in self._execute(
                f"WITH RECURSIVE step(round) AS (SELECT min(round) FROM {table} WHERE project_id = ? "
                f"UNION ALL SELECT (SELECT min(round) FROM {table} WHERE project_id = ? AND round > step.round) "
                f"FROM step WHERE step.round IS NOT NULL) SELECT round FROM step WHERE round IS NOT NULL",
                [project_id, project_id]))
        return sorted(found)

    def _cluster_rounds(self, project_id: int, clusters: list[str]) -> list[int]:
        found: set[int] = set()
        for table in ("wb_counts", "income_counts"):
            for chunk in chunks(clusters):
                found.update(r[0] for r in self._execute(
                    f"SELECT DISTINCT round FROM {table} WHERE project_id = ? "
                    f"AND cluster IN ({', '.join('?' * len(chunk))})", [project_id, *chunk]))
        return sorted(found)

    @staticmethod
    def _scope(project_id: int, round_no: int | None, cluster: str | None, hamlet: str | None
               ) -> tuple[str, list]:
        where, params = ["project_id = ?"], [project_id]
        for column, value in (("round", round_no), ("cluster", cluster), ("hamlet", hamlet)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        return " AND ".join(where), params

    # -- aggregates: household income ------------------------------------------------

    _INCOME_COLUMNS = ("cluster", "hamlet", "node", "state", "sector", "size", "income_monthly", "consumption_monthly",
                       "head_sex", "social_group", "land_class", "line", "line_label", "poor", "gap", "gap2",
                       "neg_income", "income_complete")

    @in_transaction
    def replace_hh_income(self, project_id: int, submission_id: int, row: Mapping[str, Any] | None) -> set[str]:
        """Swap the income facts a submission contributes; a later interview of the same household and round wins.
        Returns the households whose facts changed."""
        if row is None:
            old_rows = self._all("SELECT * FROM hh_income WHERE submission_id = ?", [submission_id])
        else:  # one statement, both indexes (SQLite's OR optimisation), each row once
            old_rows = self._all("SELECT * FROM hh_income WHERE submission_id = ? "
                                 "OR (project_id = ? AND hh_id = ? AND round = ?)",
                                 [submission_id, project_id, row["hh_id"], row["round"]])
        for old in old_rows:
            self._income_count(project_id, old, -1)
            self._execute("DELETE FROM hh_income WHERE project_id = ? AND round = ? AND hh_id = ?",
                       [project_id, old["round"], old["hh_id"]])
        if row is not None:
            new = {"project_id": project_id, "submission_id": submission_id, **row}
            names = ["project_id", "round", "hh_id", "submission_id", *self._INCOME_COLUMNS]
            self._execute(f"INSERT INTO hh_income ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                          [new[n] for n in names])
            self._income_count(project_id, new, +1)
        return {r["hh_id"] for r in old_rows} | ({row["hh_id"]} if row is not None else set())

    def _income_count(self, project_id: int, row: Mapping[str, Any], sign: int) -> None:
        """Move a scope's counts by one household: measured (a line and a complete income), without a line, or left
        out for incomplete income (a line, but an amount not known). Only measured households enter the sums."""
        size, has_line = row["size"], row["line"] is not None
        incomplete = has_line and not row["income_complete"]
        measured = has_line and not incomplete
        if measured:
            self._execute(
                "INSERT INTO income_lines (project_id, round, cluster, hamlet, node, line_label, line, n_hh) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, round, cluster, hamlet, node, line_label) "
                "DO UPDATE SET n_hh = income_lines.n_hh + excluded.n_hh",
                [project_id, row["round"], row["cluster"] or "", row["hamlet"] or "", row["node"] or "",
                 row["line_label"], row["line"], sign])
        poor = row["poor"] or 0
        self._execute(
            _INCOME_COUNT_UPSERT,
            [project_id, row["round"], row["cluster"] or "", row["hamlet"] or "", row["node"] or "",
             sign * int(measured), sign * size * int(measured), sign * int(not has_line), sign * int(incomplete),
             sign * poor, sign * poor * size, sign * (row["gap"] or 0), sign * (row["gap"] or 0) * size,
             sign * (row["gap2"] or 0), sign * (row["gap2"] or 0) * size])

    def income_count_rows(self, project_id: int, round_no: int, cluster: str | None = None,
                          hamlet: str | None = None, node: str | None = None, by: Sequence[str] = ()) -> list[dict]:
        where, params = self._scope(project_id, round_no, cluster, hamlet)
        if node is not None:
            where, params = where + " AND node = ?", params + [node]
        groups = [c for c in by if c in {"cluster", "hamlet", "node"}]
        cols = "".join(f"{c}, " for c in groups)
        sums = ", ".join(f"sum({c}) AS {c}" for c in ("n_hh", "n_persons", "n_no_line", "n_incomplete", "poor_hh",
                                                      "poor_persons", "gap_hh", "gap_persons", "gap2_hh",
                                                      "gap2_persons"))
        group_by = f" GROUP BY {', '.join(groups)} ORDER BY {', '.join(groups)}" if groups else ""
        return self._all(f"SELECT {cols}{sums} FROM income_counts WHERE {where}{group_by}", params)

    def income_lines_used(self, project_id: int, round_no: int, cluster: str | None = None,
                          hamlet: str | None = None, node: str | None = None) -> list[dict]:
        """The poverty lines a scope's households were measured against, with how many households each."""
        where, params = self._scope(project_id, round_no, cluster, hamlet)
        if node is not None:
            where, params = where + " AND node = ?", params + [node]
        return self._all(f"SELECT line_label, line, sum(n_hh) AS n_hh FROM income_lines WHERE {where} "
                         "GROUP BY line_label, line HAVING sum(n_hh) > 0 ORDER BY line_label", params)

    def hh_income(self, project_id: int, round_no: int | None, cluster: str | None = None,
                  hamlet: str | None = None) -> list[dict]:
        where, params = self._scope(project_id, round_no, cluster, hamlet)
        return self._all(f"SELECT * FROM hh_income WHERE {where} ORDER BY round, hh_id", params)

    # -- aggregates: poverty nodes ------------------------------------------------------

    @in_transaction
    def replace_node_record(self, project_id: int, submission_id: int, row: Mapping[str, Any] | None) -> None:
        self._execute("DELETE FROM node_records WHERE submission_id = ?", [submission_id])
        if row is not None:
            self._execute("INSERT INTO node_records (project_id, round, node_id, submission_id, cluster, data) "
                          "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, round, node_id) DO UPDATE SET "
                          "submission_id = excluded.submission_id, cluster = excluded.cluster, data = excluded.data",
                          [project_id, row["round"], row["node_id"], submission_id,
                                                     row["cluster"], json.dumps(row["data"], default=str)])

    def node_records(self, project_id: int, round_no: int | None = None, cluster: str | None = None) -> list[dict]:
        where, params = self._scope(project_id, round_no, cluster, None)
        rows = self._all(f"SELECT * FROM node_records WHERE {where} ORDER BY cluster, node_id, round", params)
        for row in rows:
            row["data"] = json.loads(row["data"])
        return rows

    # -- rebuild ----------------------------------------------------------------------

    def clear_aggregates(self, project_id: int) -> None:
        with self.transaction():
            for table in ("wb_ratings", "wb_households", "wb_counts", "wb_transitions", "hh_income", "income_counts",
                          "income_lines", "node_records", "field_households", "wb_gone", "wb_validated"):
                self._execute(f"DELETE FROM {table} WHERE project_id = ?", [project_id])

    def current_submissions(self, project_id: int, xml_form_id: str) -> Iterator[dict]:
        """Every current, not deleted, not rejected submission of a form, oldest first, with its XML."""
        cursor = self._execute(
            "SELECT s.id AS submission_id, d.form_def_id, d.xml FROM submissions s "
            "JOIN forms f ON f.id = s.form_id JOIN submission_defs d ON d.id = s.current_def_id "
            "WHERE s.project_id = ? AND f.xml_form_id = ? AND s.deleted_at IS NULL AND s.review_state != 'rejected' "
            "AND d.encrypted = 0 ORDER BY s.id", [project_id, xml_form_id])
        names = [c[0] for c in cursor.description]
        for row in cursor:
            yield dict(zip(names, row))

    def aggregate_snapshot(self, project_id: int) -> dict[str, list[tuple]]:
        """Every aggregate row of a project (the monitoring facts too), for comparing an incremental state with a
        rebuild."""
        out = {}
        # counts rows brought to zero by deltas are equal to absent rows; the number is where counts start
        for table, order, counts_from in (("wb_counts", "round, cluster, hamlet, node, final", 6),
                                          ("wb_households", "round, hh_id", 0),
                                          ("wb_transitions", "from_round, to_round, cluster, hamlet, from_cluster, "
                                                             "from_hamlet, from_category, to_category", 9),
                                          ("income_counts", "round, cluster, hamlet, node", 5),
                                          ("hh_income", "round, hh_id", 0), ("node_records", "round, node_id", 0),
                                          ("field_households", "hh_id, submission_id", 0),
                                          ("wb_gone", "hh_id, submission_id", 0),
                                          ("wb_validated", "round, hh_id, submission_id", 0),
                                          ("monitor_facts", "submission_id", 0)):
            rows = self._execute(f"SELECT * FROM {table} WHERE project_id = ? ORDER BY {order}", [project_id])
            out[table] = [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows
                          if not counts_from or any(abs(v) > 1e-9 for v in r[counts_from:])]
        return out
