"""One-scan phone setup: the Collect settings for a device, encoded as ODK Collect reads a QR code.

Compact JSON, zlib-compressed (zlib header, not raw deflate), standard base64 (docs/protocol.md 7.1),
rendered as PNG, SVG or terminal text with the qrcode package.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zlib

import qrcode
import qrcode.image.svg

from schemas.qr import CollectSettingsSchema

_PALETTE = ("#3e9fcc", "#b8542e", "#4f7a28", "#8a4f9e", "#c08a1e", "#2e6f6a")


def project_display(name: str) -> dict:
    """Icon and colour for the project in Collect's project list: first letter, a stable colour."""
    digest = int(hashlib.sha256(name.encode()).hexdigest(), 16)
    return {"name": name, "icon": (name.strip()[:1] or "P").upper(), "color": _PALETTE[digest % len(_PALETTE)]}


def device_settings(server_url: str, project_name: str, admin_password: str | None = None) -> dict:
    """Settings that configure Collect completely for one device and lock the server address."""
    admin: dict = {"change_server": False, "change_project_display": False}
    if admin_password:
        admin["admin_pw"] = admin_password
    settings = {
        "general": {"server_url": server_url, "form_update_mode": "match_exactly",
                    "periodic_form_updates_check": "every_one_hour", "autosend": "wifi_and_cellular",
                    "delete_send": False, "constraint_behavior": "on_swipe"},
        "admin": admin,
        "project": project_display(project_name),
    }
    CollectSettingsSchema().load(settings)  # raises ValidationError on a setting Collect would drop
    return settings


def encode(settings: dict) -> str:
    data = json.dumps(settings, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.b64encode(zlib.compress(data)).decode("ascii")


def decode(payload: str) -> dict:
    return json.loads(zlib.decompress(base64.b64decode(payload)).decode("utf-8"))


def _code(payload: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, border=4, box_size=8)
    code.add_data(payload)
    code.make(fit=True)
    return code


def png(payload: str) -> bytes:
    out = io.BytesIO()
    _code(payload).make_image(fill_color="black", back_color="white").save(out, format="PNG")
    return out.getvalue()


def svg(payload: str) -> str:
    image = _code(payload).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    return image.to_string(encoding="unicode")


def terminal(payload: str) -> str:
    out = io.StringIO()
    _code(payload).print_ascii(out=out, invert=True)
    return out.getvalue()
