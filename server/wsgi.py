"""Serve the app with Granian (a production server with its HTTP layer in Rust): worker processes, each running the
app in a pool of threads, one app per worker.

Granian replaced gunicorn's threaded workers: on this project's 2-core machine gunicorn spent about 0.3 ms of CPU
per request in Python (reading and parsing the request, handing it to a thread, writing the answer) against about
0.05 ms for Granian, which does that work in Rust without the GIL (README, Speed and durability).

Granian serves its ASGI interface, and server/body_buffer.py runs the Flask (WSGI) app behind it: each request body
is read whole on the worker's event loop before the request is given one of the PPA_THREADS threads. Granian's WSGI
interface gives the thread first and reads the body as the app asks for it, so slow phones held every thread
(README, Limits). A response body is still streamed as the app yields it (exports stay in constant memory).

Also here: the one piece of per-request work the production server does once instead. Werkzeug's multipart
decoder compiles two regular expressions for every request, because each contains the request's boundary, and
Collect (OkHttp) sends a new random boundary with every upload; compiling them cost about a quarter of a
millisecond per submission. install_fast_multipart() gives the decoder an equivalent matcher built from
bytes.find and one shared compiled pattern (tests/test_ingest_speed.py checks that both find the same matches).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from .body_buffer import BodyBuffer


def options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Granian's settings for a server configuration (PPA_HOST, PPA_PORT, PPA_WORKERS, PPA_THREADS)."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    return {
        "address": config["HOST"],
        "port": config["PORT"],
        "interface": Interfaces.ASGINL,   # ASGI without lifespan events: the adapter needs none
        "http": HTTPModes.http1,          # Collect speaks HTTP/1.1; a TLS proxy in front may offer HTTP/2
        "websockets": False,
        "workers": config["WORKERS"],
        "backlog": 2048,
        # Collect's read timeout is 60 s: a phone on 2G sending headers slowly must not be cut before that
        "http1_settings": HTTP1Settings(header_read_timeout=60_000, keep_alive=True),
        "respawn_failed_workers": True,   # a worker that dies is replaced, as gunicorn's master did
        "workers_kill_timeout": 30,       # on shutdown, requests in flight get 30 s to finish
        "log_level": "warning",
        "log_access": False,              # the app logs each request itself, with tokens redacted
        "factory": True,
    }


def run(config: Mapping[str, Any]) -> None:
    """Serve until SIGINT or SIGTERM. The app reads its settings from the same PPA_* environment in each worker."""
    import os
    from granian import Granian
    os.environ["PPA_DATA"] = config["DATA"]   # resolved: a worker must open the very same folder
    Granian("server.wsgi:production_app", **options(config)).serve()


def production_app() -> "BodyBuffer":
    """The app as each worker process builds it: Flask behind the body-buffering adapter."""
    from . import create_app
    from .body_buffer import BodyBuffer
    install_fast_multipart()
    app = create_app()
    return BodyBuffer(app, threads=app.config["THREADS"], max_body=app.config["MAX_SUBMISSION_BYTES"],
                      body_timeout=app.config["BODY_TIMEOUT"])


# --------------------------------------------------------------------------- multipart boundaries without re.compile

_LINE_BREAK = b"(?:\r\n|\n|\r)"
# What follows "--BOUNDARY" in werkzeug's two patterns: the closing "--" (then blanks and maybe a line break), or
# blanks and a line break. The same group, compiled once.
_TAIL = re.compile(rb"(--[^\S\n\r]*%s?|[^\S\n\r]*%s)" % (_LINE_BREAK, _LINE_BREAK), re.MULTILINE)


def werkzeug_patterns(boundary: bytes) -> tuple[re.Pattern, re.Pattern]:
    """The (preamble, boundary) patterns werkzeug's MultipartDecoder compiles for a boundary."""
    escaped = re.escape(boundary)
    return (re.compile(rb"%s?--%s(--[^\S\n\r]*%s?|[^\S\n\r]*%s)" % (_LINE_BREAK, escaped, _LINE_BREAK, _LINE_BREAK),
                       re.MULTILINE),
            re.compile(rb"%s--%s(--[^\S\n\r]*%s?|[^\S\n\r]*%s)" % (_LINE_BREAK, escaped, _LINE_BREAK, _LINE_BREAK),
                       re.MULTILINE))


class BoundaryMatch:
    __slots__ = ("_start", "_end", "_tail")

    def __init__(self, start: int, end: int, tail: bytes):
        self._start, self._end, self._tail = start, end, tail

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def group(self, index: int = 0):
        if index != 1:
            raise IndexError("only group 1 is kept")
        return self._tail


class BoundaryPattern:
    """search() finds what werkzeug's compiled pattern for this boundary finds: an optional (preamble) or required
    line break, "--" and the boundary, then the tail. Every match contains "--BOUNDARY", so the occurrences are
    visited in order with bytes.find; a match starts at the line break just before one, when there is one (the
    leftmost start), and the tail is matched with the shared pattern. A boundary never holds CR or LF (it comes
    from a header), so a line break cannot overlap an occurrence."""

    def __init__(self, boundary: bytes, break_required: bool):
        self.needle = b"--" + boundary
        self.break_required = break_required

    def search(self, data, pos: int = 0) -> BoundaryMatch | None:
        needle, size = self.needle, len(self.needle)
        at = data.find(needle, pos)
        while at != -1:
            tail = _TAIL.match(data, at + size)
            if tail is not None:
                if at - 2 >= pos and data[at - 2] == 13 and data[at - 1] == 10:
                    start = at - 2
                elif at - 1 >= pos and data[at - 1] in (10, 13):
                    start = at - 1
                else:
                    start = None if self.break_required else at
                if start is not None:
                    return BoundaryMatch(start, tail.end(), tail.group(1))
            at = data.find(needle, at + 1)
        return None


def fast_decoder_class():
    """A MultipartDecoder whose two boundary patterns are BoundaryPatterns; None if this werkzeug is not the one
    this was written against (its patterns differ), in which case nothing is changed."""
    try:
        from werkzeug.sansio import multipart
    except ImportError:
        return None
    probe = multipart.MultipartDecoder(b"ppa-probe", 10, max_parts=2)
    expected = werkzeug_patterns(b"ppa-probe")
    if getattr(probe, "preamble_re", None) is None or getattr(probe, "boundary_re", None) is None \
            or (probe.preamble_re.pattern, probe.preamble_re.flags) != (expected[0].pattern, expected[0].flags) \
            or (probe.boundary_re.pattern, probe.boundary_re.flags) != (expected[1].pattern, expected[1].flags) \
            or probe.boundary != b"ppa-probe":
        return None

    class FastMultipartDecoder(multipart.MultipartDecoder):
        def __init__(self, boundary: bytes, max_form_memory_size: int | None = None, *,
                     max_parts: int | None = None) -> None:
            # werkzeug sets every attribute (its two compiles for this fixed boundary hit re's cache) ...
            super().__init__(b"ppa-probe", max_form_memory_size, max_parts=max_parts)
            # ... and the request's boundary takes the place of the probe's
            self.boundary = boundary
            self.preamble_re = BoundaryPattern(boundary, break_required=False)
            self.boundary_re = BoundaryPattern(boundary, break_required=True)

    return FastMultipartDecoder


def install_fast_multipart() -> bool:
    """Make werkzeug's form parser use the fast decoder in this process (a server worker)."""
    decoder = fast_decoder_class()
    if decoder is None:
        return False
    from werkzeug import formparser
    if getattr(formparser, "MultipartDecoder", None) is None:
        return False
    formparser.MultipartDecoder = decoder
    return True
