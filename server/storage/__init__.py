"""Storage behind one contract (contract.py): SQLite (sqlite.py, the embedded default) or PostgreSQL (postgres.py,
when PPA_DATABASE_URL is set). All SQL lives in this package; open_store picks the engine."""

from __future__ import annotations

from typing import Any, Mapping

from .. import config as config_module
from .base import StorageError, StoreUnavailable
from .contract import Store
from .sqlite import SQLiteStore


def open_store(config: Mapping[str, Any]) -> Store:
    """The store the configuration names: PostgreSQL at PPA_DATABASE_URL, else the SQLite file in PPA_DATA."""
    url = config.get("DATABASE_URL")
    if url:
        from .postgres import PostgresStore   # psycopg is imported only when PostgreSQL is used
        return PostgresStore(url)
    return SQLiteStore(config_module.database_path(config), synchronous=config["SYNCHRONOUS"])


__all__ = ["SQLiteStore", "Store", "StorageError", "StoreUnavailable", "open_store"]
