"""Well-being transitions kept at ingest: how many households went from one category in round r to another in a
later round s, per (project, r, s, the household's cluster and hamlet in each round, category in r, category in s).
SQL shared by both engines (a mixin of SQLiteStore and PostgresStore).

Every pair of rounds r < s in which a household is placed (has a category) is counted, not only consecutive ones:
a project has a handful of rounds, so a household adds at most a few rows' worth of deltas, and any two rounds a
reader picks (the API's ?from=&to=, the previous round of the pages) read counts, never the households.

The counts move by deltas in the same transaction as wb_households (AggregateQueries.set_wb_households calls
_move_wb_transitions before it writes): the household's placed rounds are read before and after the change, and the
pairs of the new state minus those of the old are added. Exact for the same reason as the other counts: writers never
overlap (see aggregate_queries.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

from .base import chunks, in_transaction

# one household's placed rounds: round -> (cluster, hamlet, category)
Placed = dict[int, tuple[str, str, str]]

_UPSERT = ("INSERT INTO wb_transitions (project_id, from_round, to_round, from_cluster, from_hamlet, cluster, hamlet, "
           "from_category, to_category, n) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, from_round, "
           "to_round, cluster, hamlet, from_cluster, from_hamlet, from_category, to_category) "
           "DO UPDATE SET n = wb_transitions.n + excluded.n")


def placed(row: Mapping[str, Any] | None) -> tuple[str, str, str] | None:
    """What a wb_households row counts for in transitions: (cluster, hamlet, category), None when not placed."""
    if row is None or not row.get("final"):
        return None
    return row.get("cluster") or "", row.get("hamlet") or "", row["final"]


def pairs(rounds: Placed) -> Counter:
    """The transition keys of one household: every pair of its placed rounds, earlier first."""
    out: Counter = Counter()
    ordered = sorted(rounds)
    for i, r in enumerate(ordered):
        for s in ordered[i + 1:]:
            (c0, h0, k0), (c1, h1, k1) = rounds[r], rounds[s]
            out[(r, s, c0, h0, c1, h1, k0, k1)] += 1
    return out


class TransitionQueries:
    """Mixed into both stores; uses the engine's _execute(), _executemany() and _all()."""

    def _placed_rounds(self, project_id: int, hh_ids: Iterable[str]) -> dict[str, Placed]:
        """Each household's placed rounds, as wb_households holds them now."""
        out: dict[str, Placed] = {}
        for chunk in chunks(sorted(set(hh_ids))):
            for row in self._all(f"SELECT hh_id, round, cluster, hamlet, final FROM wb_households WHERE project_id = ? "
                                 f"AND hh_id IN ({', '.join('?' * len(chunk))})", [project_id, *chunk]):
                where = placed(row)
                if where is not None:
                    out.setdefault(row["hh_id"], {})[row["round"]] = where
        return out

    @in_transaction
    def _move_wb_transitions(self, project_id: int,
                             items: Sequence[tuple[int, str, Mapping[str, Any] | None]]) -> None:
        """Called before wb_households takes `items` (round, household, new row or None): moves the transition
        counts from the households' present rounds to what they will be."""
        before = self._placed_rounds(project_id, (hh_id for _, hh_id, _ in items))
        after = {hh_id: dict(rounds) for hh_id, rounds in before.items()}
        for round_no, hh_id, row in items:
            where = placed(row)
            if where is None:
                after.get(hh_id, {}).pop(round_no, None)
            else:
                after.setdefault(hh_id, {})[round_no] = where
        delta: Counter = Counter()
        for hh_id, rounds in after.items():
            delta.update(pairs(rounds))
        for rounds in before.values():
            delta.subtract(pairs(rounds))
        moves = [(project_id, *key, n) for key, n in sorted(delta.items()) if n]
        if moves:
            self._executemany(_UPSERT, moves)

    def wb_transition_rows(self, project_id: int, base: int, follow: int, clusters: Sequence[str] | None = None,
                           hamlet: str | None = None) -> list[dict]:
        """Households placed in both rounds, counted by their follow-up round's cluster and hamlet and by their
        category in each round (cluster, hamlet, before, after, n): read from the kept counts. With clusters (or a
        hamlet), the household's rows of both rounds must be in them."""
        listed = sorted(set(clusters)) if clusters is not None else None
        if base == follow:   # each placed household paired with itself
            where, params = ["project_id = ?", "round = ?", "final != 'unrated'"], [project_id, base]
            if listed is not None:
                where.append(f"cluster IN ({', '.join('?' * len(listed))})" if listed else "1 = 0")
                params += listed
            if hamlet is not None:
                where.append("hamlet = ?")
                params.append(hamlet)
            return self._all(f"SELECT cluster, hamlet, final AS before, final AS after, sum(n) AS n FROM wb_counts "
                             f"WHERE {' AND '.join(where)} GROUP BY cluster, hamlet, final HAVING sum(n) != 0",
                             params)
        earlier, later = sorted((base, follow))
        # the follow-up round's side of a stored pair: `cluster, hamlet, to_category` when base is the earlier round
        side = ("cluster", "hamlet") if follow == later else ("from_cluster", "from_hamlet")
        before, after = ("from_category", "to_category") if follow == later else ("to_category", "from_category")
        where, params = ["project_id = ?", "from_round = ?", "to_round = ?"], [project_id, earlier, later]
        if listed is not None:
            for column in ("from_cluster", "cluster"):
                where.append(f"{column} IN ({', '.join('?' * len(listed))})" if listed else "1 = 0")
                params += listed
        if hamlet is not None:
            where += ["from_hamlet = ?", "hamlet = ?"]
            params += [hamlet, hamlet]
        return self._all(f"SELECT {side[0]} AS cluster, {side[1]} AS hamlet, {before} AS before, {after} AS after, "
                         f"sum(n) AS n FROM wb_transitions WHERE {' AND '.join(where)} "
                         f"GROUP BY {side[0]}, {side[1]}, {before}, {after} HAVING sum(n) != 0", params)
