"""What every `ppa` command does first: read the settings and open the data folder, failing in one plain line.

Two first-day traps live here. A setting that cannot be used (`PPA_PORT=eighty`) is one line naming it, not a
traceback. And a command run in the wrong folder does not create a new, empty database there: the default data
folder is `./instance`, relative to where the command runs, so only `ppa init` and `ppa serve` (and `ppa restore`,
which fills a folder from a backup) may create one; every other command refuses and says which folder it looked in.
"""

from __future__ import annotations

import os
from typing import Any

import click

from . import config as config_module
from .storage import Store, StoreUnavailable, open_store


def settings() -> dict[str, Any]:
    try:
        return config_module.load()
    except config_module.SettingError as exc:
        raise click.ClickException(str(exc)) from None


def data_folder(config: dict[str, Any]) -> str:
    """The data folder and where its name came from, as commands print it."""
    given = os.environ.get("PPA_DATA")
    origin = f"PPA_DATA={given}" if given is not None else "the default ./instance, in the folder the command runs in"
    return f"{config['DATA']} ({origin})"


def store(config: dict[str, Any], create: bool = False) -> Store:
    """The data folder's store (or PPA_DATABASE_URL's), migrated. Without `create`, a data folder with no SQLite
    database is refused (a PostgreSQL database is created by whoever runs the PostgreSQL server)."""
    if not config.get("DATABASE_URL") and not create and not config_module.database_path(config).is_file():
        raise click.ClickException(
            f"no PPA database in the data folder {data_folder(config)}. Run this command where `ppa init` was run, "
            "or set PPA_DATA to the data folder; `ppa init` creates a new one.")
    opened = open_store(config)
    try:
        opened.migrate()
    except StoreUnavailable as exc:
        raise click.ClickException(f"{exc}: check PPA_DATABASE_URL and that PostgreSQL is running") from None
    return opened
