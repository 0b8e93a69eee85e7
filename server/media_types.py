"""What a phone's file is, decided by the server from the question that took it and the file's first bytes.

A phone names a type for each file it sends (the multipart part's Content-Type) and could name any: an SVG or an
HTML page sent as an "image" would run script in a reviewer's browser if it were served back, same origin, with the
type it came with. So the declared type is never used. A file is served inline only when its first bytes are one of
the raster image, sound or film formats below and its question asked for that kind of media; anything else is a
download (application/octet-stream, Content-Disposition: attachment), whatever it is.

A small signature table rather than a library (filetype, puremagic): the decision is an allow-list of a dozen
formats, and a file matching none of them is a download whatever it is, so naming more formats buys nothing; the
MP4 and 3GP containers need the question anyway (Android writes the same container for a sound recording and a
film); and twenty lines of signatures can be read whole by whoever reviews them, where a library's scored,
many-candidate database is built to name every file, not to refuse safely. Pure: no Flask, no database.
"""

from __future__ import annotations

DOWNLOAD = "application/octet-stream"
KINDS = ("image", "audio", "video", "file")

# container -> {question kind: the type it is served with}
_SERVED: dict[str, dict[str, str]] = {
    "jpeg": {"image": "image/jpeg"}, "png": {"image": "image/png"}, "gif": {"image": "image/gif"},
    "webp": {"image": "image/webp"},
    "mp3": {"audio": "audio/mpeg"}, "wav": {"audio": "audio/wav"}, "flac": {"audio": "audio/flac"},
    "amr": {"audio": "audio/amr"},
    "ogg": {"audio": "audio/ogg", "video": "video/ogg"}, "webm": {"audio": "audio/webm", "video": "video/webm"},
    "mp4": {"audio": "audio/mp4", "video": "video/mp4"}, "3gpp": {"audio": "audio/3gpp", "video": "video/3gpp"},
    "quicktime": {"video": "video/quicktime"},
}
INLINE: frozenset[str] = frozenset(t for served in _SERVED.values() for t in served.values())

_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF87a", "gif"), (b"GIF89a", "gif"),
    (b"ID3", "mp3"), (b"\xff\xfb", "mp3"), (b"\xff\xf3", "mp3"), (b"\xff\xf2", "mp3"), (b"fLaC", "flac"),
    (b"#!AMR\n", "amr"), (b"OggS", "ogg"), (b"\x1a\x45\xdf\xa3", "webm"),
)
_RIFF = {b"WEBP": "webp", b"WAVE": "wav"}
# ISO base media files name their family in the 'ftyp' box; HEIF/AVIF pictures share the box and are not listed.
_BRANDS = {**dict.fromkeys((b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"M4A ", b"M4B ",
                            b"M4V ", b"avc1", b"dash", b"MSNV", b"mmp4"), "mp4"),
           **dict.fromkeys((b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3ge6", b"3gg6", b"3g2a", b"3g2b", b"3g2c"),
                           "3gpp"),
           b"qt  ": "quicktime"}


def question_kind(mediatype: str | None) -> str:
    """The kind of media a binary question takes, from its upload control's mediatype ("image/*", ...); also the
    kind a stored type stands for (files stored before the server decided types carry the phone's own)."""
    major = (mediatype or "").split("/", 1)[0].strip().lower()
    return major if major in ("image", "audio", "video") else "file"


def container(content: bytes) -> str | None:
    """The format the first bytes announce, among those that may be shown inline; None for anything else."""
    for prefix, name in _PREFIXES:
        if content.startswith(prefix):
            return name
    if content[:4] == b"RIFF":
        return _RIFF.get(content[8:12])
    if content[4:8] == b"ftyp":
        return _BRANDS.get(content[8:12])
    return None


def decide(kind: str, content: bytes) -> str:
    """The type a file is stored and served with: its format's type when its question asked for that kind of
    media, application/octet-stream (a download) otherwise."""
    return _SERVED.get(container(content) or "", {}).get(kind, DOWNLOAD)


def inline(content_type: str | None) -> bool:
    """May a browser show it in the page: a raster image, a sound or a film of a format listed here."""
    return content_type in INLINE
