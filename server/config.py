"""Declared settings: the only module that reads PPA_* environment variables.

Every setting has a name, a default and a help text; tests/test_docs.py fails
when a setting is missing from the README's configuration table.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str


class SettingError(ValueError):
    """A PPA_* variable that cannot be used; the message names it, its value and what it should be."""


def _whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """A parser for a whole number in [low, high], whose error says the range."""
    wanted = f"a whole number from {low} to {high}" if high is not None else f"a whole number, at least {low}"

    def parse(value: str) -> int:
        try:
            number = int(value.strip())
        except ValueError:
            raise ValueError(f"must be {wanted}") from None
        if number < low or (high is not None and number > high):
            raise ValueError(f"must be {wanted}")
        return number
    return parse


def _one_of(*choices: str, upper: bool = False) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = value.strip().upper() if upper else value.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value
    return parse


def _database_url(value: str) -> str:
    value = value.strip()
    if value and not value.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a PostgreSQL URL, postgresql://USER:PASSWORD@HOST:PORT/DBNAME (or empty for SQLite)")
    return value


SETTINGS: tuple[Setting, ...] = (
    Setting("DATA", "./instance", "Data folder: the SQLite database, the secret key and backups live here."),
    Setting("DATABASE_URL", "", "PostgreSQL database to use instead of the SQLite file in PPA_DATA, as "
            "postgresql://USER:PASSWORD@HOST:PORT/DBNAME (see PostgreSQL in the README). Empty: SQLite.", _database_url),
    Setting("HOST", "127.0.0.1", "Address the HTTP server listens on."),
    Setting("PORT", 8080, "Port the HTTP server listens on.", _whole(1, 65535)),
    Setting("PUBLIC_URL", "", "Base URL that phones use to reach the server (for example https://ppa.example.org). "
            "Used in form lists, manifests and QR codes. Defaults to http://HOST:PORT."),
    Setting("ADMIN_EMAIL", "admin@localhost", "E-mail (sign-in name) of the first administrator, created once."),
    Setting("ADMIN_PASSWORD", "", "Password of the first administrator. If empty, a random one is generated and printed once."),
    Setting("FORMS", "", "Folder of compiled XForms (*.xml) that `scripts/serve` publishes into the default project. "
            "Defaults to the forms/ folder of this checkout."),
    Setting("PROJECT_NAME", "PPA 2026", "Name of the default project that `scripts/serve` creates when there is none."),
    Setting("SECRET_KEY", "", "Key for signing sessions and Digest nonces. If empty, one is generated and kept in DATA/secret_key."),
    Setting("WORKERS", 3, "Number of WSGI worker processes (measured best on 2 cores: cores + 1).", _whole(1)),
    Setting("THREADS", 4, "Threads per worker process: requests one worker runs the app for at once (a body is "
            "read whole before its request gets a thread).", _whole(1)),
    Setting("MAX_SUBMISSION_BYTES", 50_000_000, "Largest accepted POST body for one submission, in bytes; also advertised "
            "to Collect as X-OpenRosa-Accept-Content-Length so that it splits larger uploads.", _whole(1)),
    Setting("BODY_TIMEOUT", 900, "Seconds a request body may take to arrive in all (and never more than 60 s "
            "without a byte); a slower one gets 408 and its connection is closed.", _whole(1)),
    Setting("MAX_XML_BYTES", 10_000_000, "Largest accepted submission XML part, in bytes.", _whole(1)),
    Setting("MAX_XML_DEPTH", 32, "Deepest element nesting accepted in a submission.", _whole(1)),
    Setting("MAX_PARTS", 250, "Most multipart parts accepted in one submission POST (Collect sends at most 102).",
            _whole(1)),
    Setting("SYNCHRONOUS", "NORMAL", "SQLite synchronous mode: NORMAL survives a crash of the server process; FULL also "
            "survives power loss, at a measured cost (see README).", _one_of("NORMAL", "FULL", upper=True)),
    Setting("DIGEST_REALM", "PPA", "Realm of HTTP Digest authentication for named users."),
    Setting("LOG_LEVEL", "INFO", "Logging level (DEBUG, INFO, WARNING, ERROR).",
            _one_of("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", upper=True)),
    Setting("LOG_FORMAT", "json", "Log line format: json (one object per line) or text.", _one_of("json", "text")),
    Setting("MAP_TILES", "", "Address of a map tile server drawn under the households' GPS points, e.g. "
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png (an https or http address with {z}, {x} and {y}). Empty: "
            "no tiles, the map works offline with the points, a scale and hamlet names only. The pages' "
            "Content-Security-Policy then allows pictures from that server.", lambda v: tile_url(v)),
    Setting("MAP_ATTRIBUTION", "", "Credit line the tile server asks to be shown on the map (plain text), e.g. "
            "© OpenStreetMap contributors. Used only with MAP_TILES."),
    Setting("PROXIES", 0, "Reverse proxies in front of the server whose X-Forwarded-For and X-Forwarded-Proto are "
            "trusted (1 behind one nginx or Caddy). 0: the headers are ignored, as anyone can send them.", _whole(0)),
)


def tile_url(value: str) -> str:
    """A tile server's address template: empty, or http(s)://host/...{z}...{x}...{y}... with no quote, space or
    semicolon (it goes into the Content-Security-Policy and a page attribute)."""
    from urllib.parse import urlsplit
    value = value.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in {"https", "http"} or not parts.hostname or any(
            c in value for c in " ;,'\"<>") or not all(k in value for k in ("{z}", "{x}", "{y}")):
        raise ValueError("must be an http or https address with {z}, {x} and {y}, e.g. "
                         "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    return value

_BY_NAME = {s.name: s for s in SETTINGS}


def load(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the configuration: defaults, then PPA_* environment variables, then overrides.

    A variable that cannot be used raises SettingError naming it, e.g. "PPA_PORT='eighty' must be a whole number
    from 1 to 65535": the command line prints that one line (server/cli_setup.py)."""
    environ = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(f"PPA_{setting.name}")
        if raw is None:
            config[setting.name] = setting.default
            continue
        try:
            config[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise SettingError(f"PPA_{setting.name}={raw!r} {exc}") from None
    for key, value in (overrides or {}).items():
        config[key] = value
    unknown = [k for k in (overrides or {}) if k not in _BY_NAME and not k.isupper()]
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(unknown)}")
    if config["SYNCHRONOUS"] not in {"NORMAL", "FULL"}:
        raise SettingError("PPA_SYNCHRONOUS must be NORMAL or FULL")
    if not config["PUBLIC_URL"]:
        config["PUBLIC_URL"] = f"http://{config['HOST']}:{config['PORT']}"
    config["PUBLIC_URL"] = config["PUBLIC_URL"].rstrip("/")
    config["DATA"] = str(Path(config["DATA"]).resolve())
    if not config["FORMS"]:
        config["FORMS"] = str(Path(__file__).resolve().parent.parent / "forms")
    return config


def database_path(config: Mapping[str, Any]) -> Path:
    return Path(config["DATA"]) / "ppa.db"


def secret_key(config: Mapping[str, Any], store: Any = None) -> str:
    """The configured key, or one generated once and kept in the data folder (with PostgreSQL: in the database,
    through `store`, so that every app server signs with the same key).

    Server workers start together and may all find no key. Each writes a whole key to a file of its own and links
    it into place, which only one link can do; the others read the winner's. (Creating the file and then writing
    it let a worker read it in between and run with an empty key: sessions and Digest nonces signed with nothing.)
    """
    if config.get("SECRET_KEY"):
        return config["SECRET_KEY"]
    if config.get("DATABASE_URL"):
        if store is None:
            raise RuntimeError("with PPA_DATABASE_URL the secret key lives in the database: pass the store")
        return store.shared_secret("secret_key", lambda: secrets.token_hex(32))
    path = Path(config["DATA"]) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(draft, path)
            except FileExistsError:  # another worker's key is in place, whole
                pass
        finally:
            draft.unlink(missing_ok=True)
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it (sessions and nonces are signed with it) or set "
                           "PPA_SECRET_KEY")
    return key
