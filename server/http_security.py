"""What every response tells the browser, and how files that phones or people named are sent back (HTTP edge).

Every response, pages, API, OpenRosa and files alike, carries:
- Content-Security-Policy: script, style, images, fonts and forms from this server only; no inline script or
  style (templates carry none: behaviour is in static/app.js, looks in static/*.css), no plug-ins, no <base>,
  and no framing (frame-ancestors 'none', with X-Frame-Options: DENY for older browsers);
- X-Content-Type-Options: nosniff, so a browser never guesses a type other than the one sent;
- Referrer-Policy: same-origin. Not no-referrer: Flask-WTF checks that a form posted over HTTPS comes from this
  server's own pages by its Referer, and same-origin still sends none to any other site.

A file a phone sent (a photo, a recording) or a name anyone chose goes out through send(): its name is encoded
as werkzeug's send_file encodes it (quoted, with filename* for non-ASCII), so no name can add or change a
parameter of Content-Disposition, and a file is inline only when media_types says it may be.
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

from flask import Flask, Response
from werkzeug.utils import send_file

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
       "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# a file is shown or saved, never run: nothing it could contain may load, run or submit anything
FILE_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin"}


def csp(tile_url: str = "") -> str:
    """The pages' policy; with a map tile server configured (PPA_MAP_TILES), pictures from its origin too (the map's
    tiles are <img> elements). The address was checked by config.tile_url: no space, quote or semicolon."""
    if not tile_url:
        return CSP
    parts = urlsplit(tile_url)
    origin = f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"
    return CSP.replace("img-src 'self'", f"img-src 'self' {origin}")


def register(app: Flask) -> None:
    headers = {**HEADERS, "Content-Security-Policy": csp(app.config.get("MAP_TILES", ""))}

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response


def disposition(name: str, inline: bool = False) -> str:
    """The Content-Disposition header for a file called `name`, as werkzeug's send_file writes it."""
    sent = send_file(io.BytesIO(), {}, mimetype="application/octet-stream", as_attachment=not inline,
                     download_name=name, conditional=False, etag=False)
    sent.close()
    return sent.headers["Content-Disposition"]


def send(body: bytes, name: str, content_type: str, inline: bool = False,
         headers: dict[str, str] | None = None) -> Response:
    """A whole file in memory: inline (shown by the browser) or a download, under its own name."""
    return Response(body, content_type=content_type,
                    headers={"Content-Disposition": disposition(name, inline), "Content-Security-Policy": FILE_CSP,
                             **(headers or {})})
