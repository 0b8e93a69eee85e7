"""Our rows in ODK Central's JSON field names and shapes (docs/api.yaml). Pure: no Flask, no SQL.

Where we keep nothing Central has (Enketo ids, public links, encryption keys, a project description), the field is
present with Central's own "none" value (null, 0 or false), so that clients reading it find what they expect.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any

from ..permissions import ACTIONS

# Central's verbs for what our actions allow (GET /v1/projects lists the caller's verbs for each project)
_VERBS = {
    "read": ("project.read", "form.list", "form.read", "submission.list", "submission.read", "dataset.list",
             "dataset.read", "entity.list", "entity.read"),
    "review": ("submission.update",),
    "manage": ("form.update", "assignment.list", "field_key.list"),
}


_ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def iso(stamp: str | None) -> str | None:
    """A stored timestamp as Central writes them: UTC, milliseconds, Z (as ours are stored, mostly)."""
    if not stamp:
        return None
    if _ISO_Z.fullmatch(stamp):
        return stamp
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def verbs(role: str) -> list[str]:
    return sorted(v for action, names in _VERBS.items() if role in ACTIONS[action] for v in names)


def project_json(project: dict) -> dict:
    return {"id": project["id"], "name": project["name"], "description": None, "archived": None, "keyId": None,
            "createdAt": iso(project["created_at"]), "updatedAt": None, "deletedAt": None}


def user_json(user: dict) -> dict:
    return {"id": user["id"], "type": "user", "displayName": user["email"], "createdAt": iso(user["created_at"]),
            "updatedAt": None, "deletedAt": iso(user["disabled_at"])}


def device_json(device: dict) -> dict:
    """A phone is Central's app user (an actor of type field_key)."""
    return {"id": device["id"], "type": "field_key", "displayName": device["name"],
            "createdAt": iso(device["created_at"]), "updatedAt": None, "deletedAt": iso(device["revoked_at"])}


def form_json(form: dict, fdef: dict, xml: bytes, created_at: str | None) -> dict:
    """A form with one of its versions (the current one, or each of /versions)."""
    return {"projectId": form["project_id"], "xmlFormId": form["xml_form_id"], "state": form["state"],
            "enketoId": None, "enketoOnceId": None, "createdAt": iso(created_at),
            "updatedAt": iso(fdef["published_at"]), "webformsEnabled": False, "keyId": None,
            "version": fdef["version"], "hash": hashlib.md5(xml).hexdigest(), "sha": hashlib.sha1(xml).hexdigest(),
            "sha256": hashlib.sha256(xml).hexdigest(), "draftToken": None, "publishedAt": iso(fdef["published_at"]),
            "name": fdef["title"]}


def form_extended(counts: dict, created_by: dict | None) -> dict:
    """What X-Extended-Metadata: true adds to a form."""
    states = counts["states"]
    return {"submissions": counts["submissions"], "entityRelated": False,
            "reviewStates": {"received": states.get("received", 0), "hasIssues": states.get("hasIssues", 0),
                             "edited": states.get("edited", 0)},
            "lastSubmission": iso(counts["last"]), "excelContentType": None, "publicLinks": 0,
            "createdBy": created_by}


def review_state(state: str) -> str | None:
    """Central leaves a new submission's reviewState null; ours says 'received'."""
    return None if state == "received" else state


def submitter_id(row: dict) -> int | None:
    return row["device_id"] if row.get("device_id") is not None else row.get("user_id")


def submitter_json(row: dict) -> dict | None:
    """The actor who sent a version: a phone (field_key) or a named user."""
    if row.get("device_id") is not None:
        return device_json({"id": row["device_id"], "name": row["device_name"], "created_at": row["device_created_at"],
                            "revoked_at": row["device_revoked_at"]})
    if row.get("user_id") is not None:
        return user_json({"id": row["user_id"], "email": row["user_email"], "created_at": row["user_created_at"],
                          "disabled_at": row["user_disabled_at"]})
    return None


def updated_at(row: dict) -> str | None:
    """Central's updatedAt: null until the submission is edited or reviewed, then the latest of those (an edit
    is a current version with an instanceID of its own)."""
    edited = row["received_at"] if row["version_instance_id"] != row["instance_id"] else None
    stamps = [s for s in (row.get("reviewed_at"), edited) if s]
    return iso(max(stamps)) if stamps else None


def version_json(row: dict, extended: bool) -> dict:
    out = {"submitterId": submitter_id(row), "createdAt": iso(row["received_at"]),
           "instanceName": row["instance_name"], "instanceId": row["version_instance_id"],
           "current": bool(row["is_current"]), "deviceId": row["device_ref"], "userAgent": row["user_agent"]}
    if extended:
        out["submitter"] = submitter_json(row)
    return out


def submission_json(row: dict, extended: bool, with_version: bool = True) -> dict:
    out: dict[str, Any] = {"instanceId": row["instance_id"], "submitterId": submitter_id(row),
                           "deviceId": row["device_ref"], "createdAt": iso(row["created_at"]),
                           "updatedAt": updated_at(row), "reviewState": review_state(row["review_state"])}
    if with_version:
        out["userAgent"] = row["user_agent"]
    out["deletedAt"] = iso(row["deleted_at"])
    if extended:
        out["submitter"] = submitter_json(row)
    if with_version:
        out["currentVersion"] = version_json(row, extended)
    return out


def comment_json(row: dict) -> dict:
    return {"body": row["body"], "actorId": row["actor_id"], "createdAt": iso(row["at"])}
