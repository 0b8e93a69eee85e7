"""Werkzeug's multipart decoder without two regular expressions compiled for every request.

Werkzeug's MultipartDecoder compiles two patterns per request, because each contains the request's boundary, and
Collect (OkHttp) sends a new random boundary with every upload. Compiling them was two thirds of parsing a
submission with one photo: 0.46 ms against 0.15 ms with the matcher below, on this project's 2-core machine
(README, Measured speed). install() gives werkzeug's form parser a decoder whose two patterns are BoundaryPatterns:
bytes.find and one pattern compiled once. create_app() installs it, so the test suite and the production server
parse every body with this one decoder; tests/test_ingest_speed.py checks that it finds what werkzeug's compiled
patterns find.
"""

from __future__ import annotations

import functools
import re


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


@functools.cache
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


def install() -> bool:
    """Make werkzeug's form parser use the fast decoder in this process (idempotent). False: this werkzeug
    is not the one the decoder was written against, and its own decoder is left in place."""
    decoder = fast_decoder_class()
    if decoder is None:
        return False
    from werkzeug import formparser
    if getattr(formparser, "MultipartDecoder", None) is None:
        return False
    formparser.MultipartDecoder = decoder
    return True
