"""Backup and restore of the SQLite database: mixed into SQLiteStore (storage/sqlite.py).

The backup uses SQLite's online backup API in one step, from a connection of its own: that step reads one
consistent snapshot (in WAL mode a reader never blocks the server's writers, and they never disturb it), so a
backup taken while phones are sending holds every submission committed before it began, each one whole, and
nothing of any submission committed after. Attachments are blobs inside the database, so the database file is
the whole of the data; the secret key is a separate file (see server/backup_cli.py).
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from sqlite_utils import Database

from .sqlite_schema import migrations


class MaintenanceQueries:
    """Mixin for SQLiteStore: needs only its path and busy timeout."""

    path: str
    busy_timeout_ms: int

    def backup_to(self, target: str | Path) -> dict:
        """Copy the live database to `target` (a new file; written beside it first, then renamed into place).
        Returns what was copied: pages, bytes, seconds, the integrity check of the copy and its row counts."""
        target = Path(target)
        partial = target.with_name(target.name + ".partial")
        for stale in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm"), Path(f"{partial}-journal")):
            stale.unlink(missing_ok=True)
        started = time.perf_counter()
        source = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
        try:
            source.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            copy = sqlite3.connect(partial, isolation_level=None)
            try:
                source.backup(copy, pages=-1)       # one step: one snapshot, never restarted by writers
                copy.execute("PRAGMA journal_mode=DELETE")   # a single self-contained file
                check = _check(copy)
                pages = copy.execute("PRAGMA page_count").fetchone()[0]
            finally:
                copy.close()
        finally:
            source.close()
        _fsync(partial)
        os.replace(partial, target)
        _fsync_dir(target.parent)
        return {"pages": pages, "bytes": target.stat().st_size, "seconds": round(time.perf_counter() - started, 3),
                **check}

    @staticmethod
    def restore_from(source: str | Path, target: str | Path, busy_timeout_ms: int = 30_000) -> dict:
        """Copy a backup file into the database at `target` with the backup API (which also replaces an existing
        database and its WAL consistently). Nothing at `target` is touched until the backup has passed SQLite's
        integrity check and shown that it is a PPA database whose every migration this server knows (an older
        one is fine: the server migrates it on start). Raises ValueError saying what is wrong."""
        source = Path(source)
        reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        try:
            try:
                check = _check(reader)
                applied = [m.name for m in migrations.applied(Database(reader))]
            except sqlite3.DatabaseError as exc:
                raise ValueError(f"{source}: not a usable SQLite database ({exc})") from None
            if check["integrity"] != "ok":
                raise ValueError(f"{source}: integrity check failed: {check['integrity']}")
            if not applied:
                raise ValueError(f"{source}: not a PPA database (it records no PPA migration)")
            known = {m.name for m in migrations.pending(Database(memory=True))}   # all: none is applied there
            unknown = [name for name in applied if name not in known]
            if unknown:
                raise ValueError(f"{source}: made by a newer version of the server (migration "
                                 f"{', '.join(unknown)} is unknown here): restore it with that version")
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            writer = sqlite3.connect(target, timeout=busy_timeout_ms / 1000, isolation_level=None)
            try:
                reader.backup(writer, pages=-1)
                writer.execute("PRAGMA journal_mode=WAL")   # as the server runs it
                restored = _check(writer)
            finally:
                writer.close()
        finally:
            reader.close()
        return {**restored, "migrations": len(applied)}


def _check(conn: sqlite3.Connection) -> dict:
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    counts = {}
    for table in ("submissions", "submission_defs", "submission_attachments", "blobs"):
        try:
            counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        except sqlite3.OperationalError:   # not a PPA database (or an empty one)
            counts[table] = None
    return {"integrity": integrity, "counts": counts}


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
