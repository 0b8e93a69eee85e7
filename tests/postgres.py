"""A temporary PostgreSQL cluster for one test session (Debian's postgresql package): initdb into a temporary folder,
listening on a free 127.0.0.1 port (and a socket in that folder), stopped and removed at the end.

initdb refuses to run as root (as CI runs): then the cluster belongs to the `postgres` system user the Debian package
creates, and its programs run through runuser. Each test gets a fresh database cheaply: the schema is migrated once
into a template database, and ``new_database()`` copies it (CREATE DATABASE ... TEMPLATE)."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.serve_process import free_port

TEMPLATE = "ppa_template"
SUPERUSER = "ppa"


def bin_dir() -> Path:
    """The newest installed PostgreSQL's programs, or an error that says what to install."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: the tests need Debian's postgresql package "
                           "(apt-get install postgresql; scripts/test installs it when run as root)")
    return Path(found[-1]).parent


class Cluster:
    """One temporary cluster; start() then new_database() per test, stop() at the end."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.folder = Path(tempfile.mkdtemp(prefix="ppa-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        self._names = itertools.count(1)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> "Cluster":
        if self.as_postgres:
            os.chmod(self.folder, 0o755)
            shutil.chown(self.folder, "postgres", "postgres")
        try:
            self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync",
                      "--locale=C.UTF-8")
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"initdb failed: {exc.stderr}") from None
        self._start()
        return self

    def _start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        result = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-o", options,
                           "-w", "-t", "60", "start", check=False)
        if result.returncode != 0:
            log = (self.folder / "server.log").read_text() if (self.folder / "server.log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{log[-2000:]}")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def restart(self) -> None:
        """Stop (fast: every connection is cut) and start again, as an operator's restart does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self._start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def sql(self, statement: str, database: str = "postgres") -> None:
        import psycopg
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement)

    def make_template(self) -> None:
        """The schema migrated once, copied by every new_database()."""
        from server.storage.postgres import PostgresStore
        self.sql(f"CREATE DATABASE {TEMPLATE}")
        store = PostgresStore(self.url(TEMPLATE))
        try:
            store.migrate()
        finally:
            store.close()

    def new_database(self) -> str:
        """A fresh migrated database; returns its URL."""
        name = f"t_{os.getpid()}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
