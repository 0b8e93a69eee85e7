"""What every request needs (the store, the form cache, Digest authentication), made once by create_app and kept on
app.extensions["ppa"], and the one way the blueprints reach it: context.ppa() and context.store()."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from .catalog import FormCache
from .storage import Store

EXTENSION = "ppa"


@dataclass
class PPA:
    store: Store
    forms: FormCache
    digest: Any


def ppa() -> PPA:
    """The application's PPA object (inside a request or an application context)."""
    return current_app.extensions[EXTENSION]


def store() -> Store:
    """The application's store."""
    return current_app.extensions[EXTENSION].store
