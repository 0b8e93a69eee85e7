"""What the load runs (bench/) ask the database, so that no SQL lives outside server/storage/. Part of the storage
layer (a mixin of the store): portable SQL, the same on SQLite and PostgreSQL, except the one version query that
each engine spells its own way (the version and the size)."""

from __future__ import annotations


class BenchQueries:
    """Mixed into SQLiteStore; uses its _one()."""

    version_sql = "SELECT 'SQLite ' || sqlite_version() AS version"
    size_sql = "SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()"

    def count_all_submissions(self) -> int:
        """Every submission row of every project, deleted ones too: how far the bench has filled the database."""
        return self._one("SELECT count(*) AS n FROM submissions")["n"]

    def last_submission_id(self, form_id: int) -> int:
        """The highest submission id of a form (0 when it has none): where the newest page of its list starts."""
        return self._one("SELECT COALESCE(max(id), 0) AS last FROM submissions WHERE form_id = ?", [form_id])["last"]

    def engine_version(self) -> str:
        """The database engine and its version, for the bench report's machine line."""
        return self._one(self.version_sql)["version"]

    def database_bytes(self) -> int:
        """The size of the database (SQLite: the main file, without its write-ahead log)."""
        return self._one(self.size_sql)["n"]


class PostgresBenchQueries(BenchQueries):
    """The same for the PostgreSQL store: only the version and size queries differ."""

    version_sql = "SELECT 'PostgreSQL ' || current_setting('server_version') AS version"
    size_sql = "SELECT pg_database_size(current_database()) AS n"
