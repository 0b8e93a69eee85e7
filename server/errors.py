"""One catalogue of problems with stable codes, raised in the domain and rendered at the edge.

The code's integer part is the HTTP status, as in ODK Central's lib/util/problem.js,
and where Central has the same situation we keep its code and wording so that
enumerators see familiar messages in Collect.
"""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    """A failure the client can act on: a stable code, an HTTP status and a human message."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}

    @property
    def status(self) -> int:
        return int(self.code.split(".")[0])

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Problem({self.code!r}, {self.message!r})"


# 400 -----------------------------------------------------------------------

def unparseable_xml(reason: str) -> Problem:
    return Problem("400.2", f"The submission XML could not be read ({reason}). Please send the form again; "
                   "if this keeps happening, tell your supervisor.", {"reason": reason})


def missing_form_id() -> Problem:
    return Problem("400.2", "Required parameter form ID xml attribute missing.")


def missing_openrosa_version() -> Problem:
    return Problem("400.6", "The X-OpenRosa-Version header is required and must be 1.0.")


def missing_multipart_field(field: str = "xml_submission_file") -> Problem:
    return Problem("400.7", f"Required multipart POST field {field} missing.", {"field": field})


def not_multipart() -> Problem:
    return Problem("400.39", "The submission must be sent as multipart/form-data.")


def malformed_multipart() -> Problem:
    return Problem("400.39", "The multipart body could not be read (no parts found for its boundary). "
                   "Please send the form again.")


def bad_part_name(name: str) -> Problem:
    return Problem("400.40", f"The attachment name {name!r} is not allowed: names may not contain "
                   "path separators or control characters.", {"name": name})


def xml_too_deep(limit: int) -> Problem:
    return Problem("400.41", f"The submission XML is nested more than {limit} levels deep.", {"limit": limit})


def hostile_xml() -> Problem:
    return Problem("400.42", "The submission XML declares a DOCTYPE or entities, which are not allowed.")


def invalid_submission(errors: dict[str, Any], form_id: str) -> Problem:
    """The data does not fit the form: name each field so the supervisor can fix the form or phone."""
    parts = [f"{field}: {'; '.join(msgs) if isinstance(msgs, list) else msgs}" for field, msgs in _flatten(errors)]
    text = "; ".join(parts[:10]) + (f"; and {len(parts) - 10} more" if len(parts) > 10 else "")
    return Problem("400.43", f"This submission does not match the form {form_id}: {text.rstrip('.')}. "
                   "Check that the phone has the latest version of the form.", {"errors": errors})


def bad_request(message: str) -> Problem:
    return Problem("400.1", message)


# 401/403 ------------------------------------------------------------------

def unauthorized() -> Problem:
    return Problem("401.2", "Sign in with a user name and password to continue.")


def forbidden_token() -> Problem:
    return Problem("403.1", "This phone's access key is not valid or has been revoked. "
                   "Ask your project manager for a new QR code.")


def forbidden() -> Problem:
    return Problem("403.1", "You are not allowed to do this.")


def outside_clusters(cluster: str | None) -> Problem:
    """A named user sent (or edited) a submission of a cluster they are not assigned to. The cluster is named
    only when the sender's own XML gave it: a stored submission's cluster is not told to someone outside it."""
    what = f"the cluster {cluster!r}" if cluster else "a cluster that is not one of yours"
    return Problem("403.2", f"This submission is for {what}: you may only send and edit submissions of the "
                   "clusters you are assigned to. Nothing was stored. Ask your project manager if this is wrong.",
                   {"cluster": cluster})


# 404 ----------------------------------------------------------------------

def not_found(what: str = "resource") -> Problem:
    return Problem("404.1", "Could not find the resource you were looking for.", {"what": what})


def form_version_not_found(version: str) -> Problem:
    return Problem("404.6", f"The form version specified in this submission '{version}' does not exist.",
                   {"version": version})


def deprecated_not_found(deprecated_id: str) -> Problem:
    return Problem("404.5", "You tried to update an existing submission, but we can't find that submission "
                   f"to update ({deprecated_id}).", {"deprecatedId": deprecated_id})


# 409 ----------------------------------------------------------------------

def xml_conflict() -> Problem:
    return Problem("409.1", "A submission already exists with this ID, but with different XML. Resubmissions to "
                   "attach additional multimedia must resubmit an identical xml_submission_file.")


def not_accepting_submissions() -> Problem:
    return Problem("409.2", "This form is not currently accepting submissions. Please talk to your program staff "
                   "if this is unexpected.")


def instance_exists(instance_id: str) -> Problem:
    return Problem("409.3", f"A resource already exists with instanceID value(s) of {instance_id}.",
                   {"instanceId": instance_id})


def version_conflict(form_id: str, version: str) -> Problem:
    return Problem("409.6", f"The form {form_id} already has a published version {version!r} with different "
                   "content. Change the version in the settings sheet and publish again.",
                   {"formId": form_id, "version": version})


def edit_out_of_date(instance_id: str) -> Problem:
    return Problem("409.9", f"You are trying to update a submission, but the copy you were editing ({instance_id}) "
                   "is now out of date. Please get the new version that has been submitted, and make your edits "
                   "again.", {"instanceId": instance_id})


def conflict(message: str) -> Problem:
    return Problem("409.10", message)


# 413 ----------------------------------------------------------------------

def too_large(limit: int, what: str = "submission") -> Problem:
    return Problem("413.1", f"The {what} is larger than this server accepts ({limit} bytes). Send photos at a "
                   "lower resolution, or ask your supervisor to raise the limit.", {"limit": limit})


# 429 ----------------------------------------------------------------------

def too_many_sign_ins(retry_after_s: int) -> Problem:
    minutes = max(1, -(-retry_after_s // 60))
    return Problem("429.1", f"Too many wrong passwords for this account from this address. Try again in {minutes} "
                   f"minute{'s' if minutes > 1 else ''}.", {"retryAfter": retry_after_s})


# 501 ----------------------------------------------------------------------

def stats_missing(fmt: str) -> Problem:
    """The optional 'stats' extra is not installed on this server."""
    return Problem("501.1", f"The {fmt} export needs the optional statistics packages on the server: install "
                            "them with pip install 'ppa-server[stats]' (pyreadstat and pandas).", {"format": fmt})


# 503 ----------------------------------------------------------------------

UNAVAILABLE_RETRY_S = 10


def unavailable() -> Problem:
    """The database cannot be reached (PostgreSQL restarting): nothing was stored; phones send again later."""
    return Problem("503.1", "The server's database is not reachable right now; nothing was stored. Please try "
                            "again in a minute.", {"retryAfter": UNAVAILABLE_RETRY_S})


def _flatten(errors: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Marshmallow nests errors by field and repeat index; flatten to 'member[2]/m_age' paths."""
    out: list[tuple[str, Any]] = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            if isinstance(key, int):
                path = f"{prefix}[{key + 1}]"
            else:
                path = f"{prefix}/{key}" if prefix else str(key)
            if isinstance(value, dict):
                out.extend(_flatten(value, path))
            else:
                out.append((path, value))
    else:
        out.append((prefix or "submission", errors))
    return out
