"""The PostgreSQL store: the PostgreSQL engine (postgres_engine.py) with the same query modules as SQLiteStore.

The query bases are taken from SQLiteStore, so that a query module added there (the way to add queries, see
contract.py) is part of this store too; only SQLite's own machinery (its engine, its export connection and its
file backup) is left out, replaced by the PostgreSQL ones."""

from __future__ import annotations

from .postgres_engine import PostgresEngine, check_url
from .postgres_maintenance import PostgresMaintenance
from .sqlite import SQLITE_ONLY, SQLiteStore

_SHARED_QUERIES = tuple(base for base in SQLiteStore.__bases__ if base not in SQLITE_ONLY)


class PostgresStore(PostgresEngine, PostgresMaintenance, *_SHARED_QUERIES):
    """All persistence in one PostgreSQL database (PPA_DATABASE_URL)."""

    def __init__(self, url: str, max_connections: int = 10):
        check_url(url)
        super().__init__(url, max_connections)
