"""What the load runs (bench/) ask the database, so that no SQL lives outside server/storage/. Part of the storage
layer (a mixin of the store): portable SQL, the same on SQLite and PostgreSQL, except the one version query that
each engine spells its own way."""

from __future__ import annotations


class BenchQueries:
    """Mixed into SQLiteStore; uses its _one()."""

    version_sql = "SELECT 'SQLite ' || sqlite_version() AS version"

    def count_all_submissions(self) -> int:
        """Every submission row of every project, deleted ones too: how far the bench has filled the database."""
        return self._one("SELECT count(*) AS n FROM submissions")["n"]

    def last_submission_id(self, form_id: int) -> int:
        """The highest submission id of a form (0 when it has none): where the newest page of its list starts."""
        return self._one("SELECT COALESCE(max(id), 0) AS last FROM submissions WHERE form_id = ?", [form_id])["last"]

    def engine_version(self) -> str:
        """The database engine and its version, for the bench report's machine line."""
        return self._one(self.version_sql)["version"]


class PostgresBenchQueries(BenchQueries):
    """The same for the PostgreSQL store: only the version query differs."""

    version_sql = "SELECT 'PostgreSQL ' || current_setting('server_version') AS version"
