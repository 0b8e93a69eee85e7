"""Every OpenRosa XML document the server writes, in Central's shapes (docs/protocol.md 1.3, 2.2, 3.4).

Namespaces are defaults (no prefixes) because Collect parses responses without namespace
awareness and looks for an element named exactly 'message'.
"""

from __future__ import annotations

from typing import Iterable, Mapping
from xml.sax.saxutils import escape

FORM_LIST_NS = "http://openrosa.org/xforms/xformsList"
MANIFEST_NS = "http://openrosa.org/xforms/xformsManifest"
RESPONSE_NS = "http://openrosa.org/http/response"
SUCCESS = "full submission upload was successful!"


def form_list(forms: Iterable[Mapping[str, str]]) -> bytes:
    """forms: dicts with formID, name, version, hash, downloadUrl and optionally manifestUrl."""
    items = []
    for form in forms:
        manifest = f"<manifestUrl>{escape(form['manifestUrl'])}</manifestUrl>" if form.get("manifestUrl") else ""
        items.append(
            "<xform>"
            f"<formID>{escape(form['formID'])}</formID>"
            f"<name>{escape(form['name'])}</name>"
            f"<version>{escape(form['version'] or '')}</version>"
            f"<hash>{escape(form['hash'])}</hash>"
            f"<downloadUrl>{escape(form['downloadUrl'])}</downloadUrl>"
            f"{manifest}"
            "</xform>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<xforms xmlns="{FORM_LIST_NS}">'
            + "".join(items) + "</xforms>").encode("utf-8")


def manifest(files: Iterable[Mapping[str, str]]) -> bytes:
    """files: dicts with filename, hash ('md5:...') and downloadUrl."""
    items = "".join(
        "<mediaFile>"
        f"<filename>{escape(f['filename'])}</filename>"
        f"<hash>{escape(f['hash'])}</hash>"
        f"<downloadUrl>{escape(f['downloadUrl'])}</downloadUrl>"
        "</mediaFile>" for f in files)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<manifest xmlns="{MANIFEST_NS}">{items}</manifest>'
            ).encode("utf-8")


def response(message: str, nature: str = "") -> bytes:
    return (f'<OpenRosaResponse xmlns="{RESPONSE_NS}" items="0">'
            f'<message nature="{escape(nature)}">{escape(message)}</message>'
            "</OpenRosaResponse>").encode("utf-8")
