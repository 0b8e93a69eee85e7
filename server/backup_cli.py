"""`ppa backup DEST` and `ppa restore SRC`: a consistent copy of a running server's data, and bringing it back.

The data folder holds the SQLite database (submissions, their XML, attachments as blobs, forms, lists, users)
and the secret key that signs sessions and Digest nonces. A backup is a folder with the two, plus backup.json
describing it. The database is copied with SQLite's online backup API (storage/sqlite_maintenance.py) while
the server keeps accepting submissions.

With PPA_DATABASE_URL (PostgreSQL) the backup folder holds ppa.pgdump, pg_dump's copy of one consistent snapshot
of the running database (storage/postgres_maintenance.py), which includes the attachments and the secret key.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import click

from . import cli_setup, config as config_module
from .storage import SQLiteStore

DATABASE = "ppa.db"
PG_DUMP = "ppa.pgdump"
KEY = "secret_key"
MANIFEST = "backup.json"


def _fail(message: str) -> None:
    raise click.ClickException(message)


@click.command("backup", help="Copy the data (database and secret key) of a running server into the folder DEST, "
                              "without stopping it.")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a backup already in DEST.")
def backup(dest: Path, force: bool) -> None:
    config = cli_setup.settings()
    if config.get("DATABASE_URL"):
        return _backup_postgres(config, dest, force)
    database = config_module.database_path(config)
    if not database.exists():
        _fail(f"there is no database at {database} (PPA_DATA={config['DATA']})")
    if (dest / DATABASE).exists() and not force:
        _fail(f"{dest} already holds a backup; use --force to replace it")
    if dest.resolve() == Path(config["DATA"]).resolve():
        _fail("DEST is the data folder itself")
    dest.mkdir(parents=True, exist_ok=True)
    store = SQLiteStore(database, synchronous=config["SYNCHRONOUS"])
    result = store.backup_to(dest / DATABASE)
    if result["integrity"] != "ok":
        _fail(f"the copy failed SQLite's integrity check: {result['integrity']}")
    key_file = Path(config["DATA"]) / KEY
    if key_file.exists():
        _copy_private(key_file, dest / KEY)
        key = "copied"
    elif config.get("SECRET_KEY"):
        (dest / KEY).unlink(missing_ok=True)
        key = "set by PPA_SECRET_KEY, not copied: keep it with the backup"
    else:
        key = "none yet"
    manifest = {"taken_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "source": str(database), "database": DATABASE, "bytes": result["bytes"],
                "seconds": result["seconds"], "integrity": result["integrity"], "counts": result["counts"],
                "secret_key": key}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    click.echo(json.dumps({"backup": str(dest), **manifest}))


@click.command("restore", help="Bring a backup made by `ppa backup` (the folder SRC) back into PPA_DATA. Stop the "
                               "server first. Refuses a data folder that holds data unless --force.")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the database and secret key already in PPA_DATA.")
def restore(src: Path, force: bool) -> None:
    config = cli_setup.settings()
    _refuse_links(src)
    if config.get("DATABASE_URL"):
        return _restore_postgres(config, src, force)
    source = src / DATABASE
    if not source.is_file():
        _fail(f"{src} is not a PPA data folder or backup: it holds no {DATABASE}")
    data = Path(config["DATA"])
    target = config_module.database_path(config)
    if target.is_symlink():
        _fail(f"{target} is a symbolic link: restore writes no database through a link")
    present = [p.name for p in (target, Path(f"{target}-wal"), data / KEY) if p.exists()]
    if present and not force:
        _fail(f"{data} is not empty ({', '.join(present)}); use --force to replace its data")
    try:   # checks the backup (integrity, PPA migrations) before it replaces anything
        result = SQLiteStore.restore_from(source, target)
    except ValueError as exc:
        _fail(f"{exc}; nothing was restored")
    if (src / KEY).exists():
        _copy_private(src / KEY, data / KEY)
        key = "restored"
    else:
        key = "not in the backup (set PPA_SECRET_KEY, or a new key is generated: sessions and nonces restart)"
    click.echo(json.dumps({"restored": str(target), "from": str(source), "integrity": result["integrity"],
                           "migrations": result["migrations"], "counts": result["counts"], "secret_key": key}))


def _backup_postgres(config: dict, dest: Path, force: bool) -> None:
    if (dest / PG_DUMP).exists() and not force:
        _fail(f"{dest} already holds a backup; use --force to replace it")
    dest.mkdir(parents=True, exist_ok=True)
    store = cli_setup.store(config)
    try:
        result = store.backup_to(dest / PG_DUMP)
    except subprocess.CalledProcessError as exc:
        _fail(f"pg_dump failed: {exc.stderr.decode(errors='replace').strip()}")
    finally:
        store.close()
    key = "set by PPA_SECRET_KEY, not copied: keep it with the backup" if config.get("SECRET_KEY") else \
        "in the database copy"
    manifest = {"taken_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "source": "postgresql", "database": PG_DUMP, "bytes": result["bytes"], "seconds": result["seconds"],
                "integrity": result["integrity"], "counts": result["counts"], "secret_key": key}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    click.echo(json.dumps({"backup": str(dest), **manifest}))


def _restore_postgres(config: dict, src: Path, force: bool) -> None:
    source = src / PG_DUMP
    if not source.is_file():
        _fail(f"{src} is not a PPA PostgreSQL backup: it holds no {PG_DUMP}")
    store = cli_setup.store(config, create=True)
    try:
        if not store.is_empty() and not force:
            _fail("the database of PPA_DATABASE_URL holds data; use --force to replace it")
        try:
            result = store.restore_dump(source)
        except ValueError as exc:
            _fail(f"{exc}; nothing was restored")
    finally:
        store.close()
    click.echo(json.dumps({"restored": "postgresql", "from": str(source), "integrity": result["integrity"],
                           "migrations": result["migrations"], "counts": result["counts"],
                           "secret_key": "in the database" if not config.get("SECRET_KEY") else "PPA_SECRET_KEY"}))


def _refuse_links(src: Path) -> None:
    """A backup is plain files: restore reads none through a symbolic link, so that no file from outside the
    backup (a key linked to /etc/passwd, a database linked elsewhere) can end up in the data folder."""
    if src.is_symlink():
        _fail(f"{src} is a symbolic link: give the folder it points to ({src.resolve()})")
    for folder, dirs, files in os.walk(src, followlinks=False):
        for name in dirs + files:
            path = Path(folder) / name
            if path.is_symlink():
                _fail(f"{path} is a symbolic link (to {os.readlink(path)}): a backup holds no links; "
                      "nothing was restored")


def _copy_private(source: Path, target: Path) -> None:
    """Copy a file readable by its owner only; neither end is followed through a symbolic link."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out, os.fdopen(os.open(source, os.O_RDONLY | os.O_NOFOLLOW), "rb") as handle:
        shutil.copyfileobj(handle, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, target)


COMMANDS = [backup, restore]
