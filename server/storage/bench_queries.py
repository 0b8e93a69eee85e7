"""What the load runs (bench/) ask the database, so that no SQL lives outside server/storage/. Part of the storage
layer (a query mixin of SQLiteStore, and so of PostgresStore too): portable SQL, except the engine's version and the
database's size, which each engine spells its own way (picked by the engine's name)."""

from __future__ import annotations

_VERSION = {"sqlite": "SELECT 'SQLite ' || sqlite_version() AS v",
            "postgresql": "SELECT 'PostgreSQL ' || current_setting('server_version') AS v"}
_SIZE = {"sqlite": "SELECT page_count * page_size AS v FROM pragma_page_count(), pragma_page_size()",
         "postgresql": "SELECT pg_database_size(current_database()) AS v"}


class BenchQueries:
    """Mixed into the stores; uses their engine name and _one()."""

    def count_all_submissions(self) -> int:
        """Every submission row of every project, deleted ones too: how far the bench has filled the database."""
        return self._one("SELECT count(*) AS n FROM submissions")["n"]

    def last_submission_id(self, form_id: int) -> int:
        """The highest submission id of a form (0 when it has none): where the newest page of its list starts."""
        return self._one("SELECT COALESCE(max(id), 0) AS last FROM submissions WHERE form_id = ?", [form_id])["last"]

    def engine_version(self) -> str:
        """The database engine and its version, for the bench report's machine line."""
        return self._one(_VERSION[self.engine])["v"]

    def database_bytes(self) -> int:
        """The size of the database (SQLite: the main file, without its write-ahead log)."""
        return self._one(_SIZE[self.engine])["v"]
