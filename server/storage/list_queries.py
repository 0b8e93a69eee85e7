"""Server-managed lists (clusters, hamlets, households, ...): their items, versions and the CSV served to phones.
SQL shared by both engines (a mixin of SQLiteStore and PostgresStore).

The caches here are safe with several app servers on one database: items are never deleted (a name once found stays
found), and the values of a list are cached per list version, which every call reads from the database."""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from .base import now

NAMES_REMEMBERED = 500_000   # list names one process remembers per list before it starts afresh (~50 MB)


class ListQueries:
    """Mixed into both stores; the engine's __init__ sets _list_cache, _managed_lists and _names_listed."""

    # -- server-managed lists -----------------------------------------------

    def ensure_list(self, project_id: int, list_name: str, columns: Sequence[str]) -> None:
        """Create the list, or give an existing one the columns a newer release added (at the end, empty for the
        items it holds; the version moves so that phones download the new CSV)."""
        with self.transaction():
            self._execute("INSERT INTO lists (project_id, list_name, columns) VALUES (?, ?, ?) "
                          "ON CONFLICT (project_id, list_name) DO NOTHING",
                          [project_id, list_name, json.dumps(list(columns))])
            stored = json.loads(self._execute("SELECT columns FROM lists WHERE project_id = ? AND list_name = ?",
                                           [project_id, list_name]).fetchone()[0])
            added = [c for c in columns if c not in stored]
            if added:
                self._execute("UPDATE lists SET columns = ?, version = version + 1 "
                              "WHERE project_id = ? AND list_name = ?",
                              [json.dumps(stored + added), project_id, list_name])

    def list_names(self, project_id: int) -> list[str]:
        return [r[0] for r in self._execute("SELECT list_name FROM lists WHERE project_id = ? ORDER BY list_name",
                                              [project_id])]

    def list_columns(self, project_id: int, list_name: str) -> list[str] | None:
        row = self._execute("SELECT columns FROM lists WHERE project_id = ? AND list_name = ?",
                              [project_id, list_name]).fetchone()
        return json.loads(row[0]) if row else None

    def upsert_list_items(self, project_id: int, list_name: str, items: Iterable[tuple[str, Mapping]],
                          source: str, replace: bool = False) -> int:
        """Add (or, with replace, update) items; bumps the list version when anything changed."""
        changed = 0
        on_conflict = ("DO UPDATE SET data = excluded.data, source = excluded.source, added_at = excluded.added_at"
                       if replace else "DO NOTHING")
        with self.transaction():
            for name, data in items:
                payload = json.dumps(data, ensure_ascii=False, sort_keys=True)
                if replace:
                    old = self._execute("SELECT data FROM list_items WHERE project_id = ? AND list_name = ? "
                                        "AND name = ?", [project_id, list_name, name]).fetchone()
                    if old and old[0] == payload:
                        continue
                cursor = self._execute("INSERT INTO list_items (project_id, list_name, name, data, source, added_at) "
                                       "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, list_name, name) "
                                       f"{on_conflict}", [project_id, list_name, name, payload, source, now()])
                changed += cursor.rowcount
            if changed:
                self._execute("UPDATE lists SET version = version + 1 WHERE project_id = ? AND list_name = ?",
                           [project_id, list_name])
        return changed

    def list_managed(self, project_id: int, list_name: str) -> bool:
        """Whether the server manages this list (list_version is not None). Lists are never removed, so a yes
        is remembered and costs no query afterwards."""
        key = (project_id, list_name)
        if key in self._managed_lists:
            return True
        if self.list_version(project_id, list_name) is None:
            return False
        self._managed_lists.add(key)
        return True

    def list_version(self, project_id: int, list_name: str) -> int | None:
        row = self._execute("SELECT version FROM lists WHERE project_id = ? AND list_name = ?",
                              [project_id, list_name]).fetchone()
        return row[0] if row else None

    def list_items(self, project_id: int, list_name: str) -> Iterator[tuple[str, dict]]:
        cursor = self._execute("SELECT name, data FROM list_items WHERE project_id = ? AND list_name = ? "
                                 f"ORDER BY {self.LIST_ORDER}", [project_id, list_name])
        for name, data in cursor:
            yield name, json.loads(data)

    def list_item(self, project_id: int, list_name: str, name: str) -> dict | None:
        row = self._execute("SELECT data FROM list_items WHERE project_id = ? AND list_name = ? AND name = ?",
                              [project_id, list_name, name]).fetchone()
        return json.loads(row[0]) if row else None

    def list_values(self, project_id: int, list_name: str, column: str) -> frozenset[str]:
        """Every value a list column has held (items are never deleted), cached per list version."""
        def read() -> frozenset[str]:
            if column == "name":
                rows = self._execute("SELECT name FROM list_items WHERE project_id = ? AND list_name = ?",
                                     [project_id, list_name])
            else:
                rows = self._execute(f"SELECT {self.JSON_FIELD.format('data')} FROM list_items "
                                     "WHERE project_id = ? AND list_name = ?", [column, project_id, list_name])
            return frozenset(str(r[0]) for r in rows if r[0] is not None)
        return self._per_list_version(("values", project_id, list_name, column), read, frozenset())

    def list_labels(self, project_id: int, list_name: str, column: str = "label") -> Mapping[str, str]:
        """What pages show for each item of a list: its `column` value, or its name when it has none. Read once
        per list version (pages name every cluster and hamlet on each view; a national list has thousands)."""
        def read() -> Mapping[str, str]:
            return MappingProxyType({name: str(data.get(column) or name)
                                     for name, data in self.list_items(project_id, list_name)})
        return self._per_list_version(("labels", project_id, list_name, column), read, MappingProxyType({}))

    def _per_list_version(self, key: tuple, read: Callable[[], Any], empty: Any) -> Any:
        """read() of a list, kept for its version: every call reads the version (so another app server's change is
        seen at once), and nothing read inside a unit of work is kept (a rollback would give its version back)."""
        version = self.list_version(key[1], key[2])
        if version is None:
            return empty
        cached = self._list_cache.get((*key, version))
        if cached is None:
            cached = read()
            if not self._in_transaction():
                if len(self._list_cache) > 256:
                    self._list_cache.clear()
                self._list_cache[(*key, version)] = cached
        return cached

    def list_missing(self, project_id: int, list_name: str, column: str, values: set[str]) -> set[str]:
        """The values a list has never held: an indexed lookup for 'name', the cached set otherwise.

        Items are never deleted, so a name once found committed is remembered and costs no query again: the
        cluster, hamlet and household every submission names are looked up once per worker process."""
        if column != "name":
            return set(values) - self.list_values(project_id, list_name, column)
        known = self._names_listed.get((project_id, list_name))
        if known is not None:
            values = {v for v in values if v not in known}
            if not values:
                return set()
        found = self._names_in_list(project_id, list_name, values)
        if found and not self._in_transaction():  # only what is committed: a rolled-back insert is no proof
            if known is None or len(known) > NAMES_REMEMBERED:
                known = self._names_listed[(project_id, list_name)] = set()
            known.update(found)
        return set(values) - found

    def _names_in_list(self, project_id: int, list_name: str, values: set[str]) -> set[str]:
        found: set[str] = set()
        ordered = sorted(values)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start:start + 500]
            rows = self._execute(f"SELECT name FROM list_items WHERE project_id = ? AND list_name = ? AND name IN "
                                   f"({', '.join('?' for _ in chunk)})", [project_id, list_name, *chunk])
            found.update(r[0] for r in rows)
        return found

    def list_csv(self, project_id: int, list_name: str, render: Callable[[list[str], Iterator[tuple[str, dict]]],
                                                                            bytes]) -> dict | None:
        """The CSV bytes of a list as served to phones, regenerated only when the list changed."""
        row = self._one("SELECT columns, version, csv_version, csv_sha256 FROM lists "
                        "WHERE project_id = ? AND list_name = ?", [project_id, list_name])
        if row is None:
            return None
        if row["csv_version"] != row["version"] or row["csv_sha256"] is None:
            with self.transaction():
                content = render(json.loads(row["columns"]), self.list_items(project_id, list_name))
                sha = self.put_blob(content)
                self._execute("UPDATE lists SET csv_version = ?, csv_sha256 = ? WHERE project_id = ? AND list_name = ?",
                           [row["version"], sha, project_id, list_name])
                row["csv_sha256"] = sha
        blob = self._one("SELECT sha256, md5, size FROM blobs WHERE sha256 = ?", [row["csv_sha256"]])
        return blob

    def forget_empty_list_csvs(self) -> int:
        """Drop the cached CSV of every list without items, so that it is rendered again: a server before the
        reserved row (lists.render_served) cached a header alone for them. Returns how many were dropped."""
        with self.transaction():
            return self._execute("UPDATE lists SET csv_sha256 = NULL WHERE csv_sha256 IS NOT NULL AND NOT EXISTS "
                              "(SELECT 1 FROM list_items i WHERE i.project_id = lists.project_id "
                              "AND i.list_name = lists.list_name)").rowcount
