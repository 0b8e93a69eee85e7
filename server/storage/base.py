"""What every store shares, whatever its engine: the storage errors, ISO timestamps, identifier quoting, and the small
query helpers the query modules call (``_one``, ``_all``, ``_scalar``) on top of the engine's ``_execute``.

The query modules (forms_queries, submission_queries, list_queries, aggregate_queries, monitoring_queries,
chart_queries, central_queries, account_queries, settings_queries, bench_queries, sqlite_people, sqlite_review,
sqlite_ranking, sqlite_exports) hold SQL written once for both engines, with ``?`` placeholders. An engine module
(sqlite_engine.py, postgres_engine.py) supplies connections, transactions and the few dialect hooks below."""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar


class StorageError(RuntimeError):
    """A store used against its contract (e.g. a write outside ``store.transaction()``)."""


class StoreUnavailable(StorageError):
    """The database cannot be reached right now (PostgreSQL down or restarting): nothing was stored; try again."""


def now() -> str:
    """The current time as ISO-8601 UTC text with milliseconds, the form every timestamp column holds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def quote(identifier: str) -> str:
    """An SQL identifier in double quotes (the same in both engines)."""
    return '"' + identifier.replace('"', '""') + '"'


def chunks(values: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    """Slices short enough for one IN (...) list."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


def marks(values: Sequence[Any]) -> str:
    """'?, ?, ?' for an IN (...) list of these values."""
    return ", ".join("?" * len(values))


def in_list(column: str, values: Iterable[Any]) -> tuple[str, list]:
    """`column IN (?, ...)` with its parameters, or a condition that holds nowhere when there are no values."""
    values = list(values)
    if not values:
        return "1 = 0", []
    return f"{column} IN ({marks(values)})", values


F = TypeVar("F", bound=Callable[..., Any])


def in_transaction(method: F) -> F:
    """Mark a write method that is one step of a larger unit of work (an ingest, a rebuild): it refuses to run
    outside the caller's ``store.transaction()``, where it would otherwise commit half of that work on its own."""
    @functools.wraps(method)
    def checked(self, *args, **kwargs):
        if not self._in_transaction():
            raise StorageError(f"store.{method.__name__}() writes as part of a unit of work: call it inside "
                               "`with store.transaction():`, not outside store.transaction()")
        return method(self, *args, **kwargs)
    checked.requires_transaction = True   # read by tests/test_storage_contract.py
    return checked  # type: ignore[return-value]


class QueryHelpers:
    """Row helpers over the engine's ``_execute``; mixed into both stores."""

    def _one(self, sql: str, params: Sequence | Mapping = ()) -> dict | None:
        cursor = self._execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([c[0] for c in cursor.description], row))

    def _all(self, sql: str, params: Sequence | Mapping = ()) -> list[dict]:
        cursor = self._execute(sql, params)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def _scalar(self, sql: str, params: Sequence | Mapping = ()) -> Any:
        row = self._execute(sql, params).fetchone()
        return None if row is None else row[0]
