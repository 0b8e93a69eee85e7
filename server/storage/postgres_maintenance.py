"""Backup and restore of a PostgreSQL database: mixed into PostgresStore (storage/postgres.py).

A backup is PostgreSQL's own dump (pg_dump, custom format) of one consistent snapshot: the store opens a REPEATABLE
READ transaction, exports its snapshot, and pg_dump reads exactly that snapshot while the servers keep accepting
submissions; the row counts reported with it are counted in the same snapshot. Attachments, form media, the secret
key (server_settings) and the typed-row tables are rows of the database, so the dump is the whole of the data.
A restore (pg_restore) goes into the database of PPA_DATABASE_URL in one transaction, then the counts are compared.
pg_dump and pg_restore come with PostgreSQL (Debian: postgresql-client) and must be at least the server's version.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

COUNTED = ("submissions", "submission_defs", "submission_attachments", "blobs")


def client_program(name: str) -> str:
    """pg_dump or pg_restore: on PATH, else the newest in Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise RuntimeError(f"{name} is not installed: install PostgreSQL's client programs "
                           "(Debian: apt-get install postgresql-client)")
    return candidates[-1]


def _client_env(url: str) -> tuple[str, dict[str, str]]:
    """The connection string without its password (which goes in PGPASSWORD, never on a command line)."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**params), env


def _counts(conn: psycopg.Connection) -> dict[str, int | None]:
    counts: dict[str, int | None] = {}
    for table in COUNTED:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()[0]
        counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] if exists else None
    return counts


class PostgresMaintenance:
    """Mixin for PostgresStore: needs its url."""

    url: str

    def backup_to(self, target: str | Path) -> dict:
        """Dump one consistent snapshot of the live database to `target` (written beside it first, then renamed).
        Returns bytes, seconds, 'ok' and the row counts of that snapshot."""
        target = Path(target)
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        conninfo, env = _client_env(self.url)
        started = time.perf_counter()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            counts = _counts(conn)
            subprocess.run([client_program("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                            f"--snapshot={snapshot}", f"--file={partial}", f"--dbname={conninfo}"],
                           env=env, check=True, capture_output=True)
            conn.execute("COMMIT")
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
        return {"bytes": target.stat().st_size, "seconds": round(time.perf_counter() - started, 3),
                "integrity": "ok", "counts": counts}

    def is_empty(self) -> bool:
        """True when the database holds no PPA data (no submission, user or form)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            for table in ("submissions", "users", "forms"):
                exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()[0]
                if exists and conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:
                    return False
        return True

    def restore_dump(self, source: str | Path) -> dict:
        """Replace the database's PPA tables by those of a dump made by backup_to, in one transaction (a failed
        restore leaves the database as it was). Raises ValueError when `source` is not such a dump."""
        conninfo, env = _client_env(self.url)
        listing = subprocess.run([client_program("pg_restore"), "--list", str(source)], env=env,
                                 capture_output=True, text=True)
        if listing.returncode != 0 or " TABLE public _ppa_migrations " not in listing.stdout:
            reason = (listing.stderr or "it holds no PPA migrations table").strip()
            raise ValueError(f"{source}: not a PPA PostgreSQL backup ({reason})")
        result = subprocess.run([client_program("pg_restore"), "--clean", "--if-exists", "--no-owner",
                                 "--no-privileges", "--single-transaction", "--exit-on-error",
                                 f"--dbname={conninfo}", str(source)], env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise ValueError(f"{source}: pg_restore failed: {result.stderr.strip()}")
        self._forget_columns()   # the tables are those of the dump now (table_columns.py)
        with psycopg.connect(self.url, autocommit=True) as conn:
            counts = _counts(conn)
            migrations = conn.execute("SELECT count(*) FROM _ppa_migrations").fetchone()[0]
        return {"integrity": "ok", "counts": counts, "migrations": migrations}
