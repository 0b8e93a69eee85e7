"""Storage behind one interface. All SQL lives in this package (sqlite.py and sqlite_schema.py);
a PostgreSQL store would be a sibling module with the same methods, chosen in open_store."""

from __future__ import annotations

from typing import Any, Mapping

from .. import config as config_module
from .sqlite import SQLiteStore


def open_store(config: Mapping[str, Any]) -> SQLiteStore:
    return SQLiteStore(config_module.database_path(config), synchronous=config["SYNCHRONOUS"])


__all__ = ["SQLiteStore", "open_store"]
