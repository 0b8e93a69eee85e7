"""The write use case: receive one OpenRosa submission POST, validate it, store it in one transaction.

Everything that needs no lock (parsing, validation, typed rows) happens before the write lock is taken;
under load the write is a savepoint in a transaction shared with other submissions (store.write_batched).

Rules follow ODK Central (docs/protocol.md 6): the form is found by id and version among all
published versions; the same instanceID with identical XML tops up attachments (Collect's
split uploads and blind retries); different XML is a conflict; meta/deprecatedID makes an
edit a new version of the same logical submission. Unlike Central, the data are checked
against the form before anything is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from marshmallow import ValidationError

from schemas import xform as form_schemas

from . import aggregates, errors, lists, media_types, monitoring, quality, rows
from .catalog import FormCache
from .central import odata_entities
from .permissions import in_scope
from .storage import Store
from .xforms import FormDef, ParsedSubmission, extract, parse_submission

_UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")


@dataclass
class UploadedFile:
    content: bytes
    content_type: str | None = None    # what the phone says it is: never stored nor served (media_types)
    filename: str | None = None        # the part's filename, tried when its field name fits no slot


@dataclass
class Upload:
    """One POST as the HTTP layer hands it over."""

    xml: bytes
    files: dict[str, UploadedFile] = field(default_factory=dict)   # by multipart field name
    device_id: int | None = None
    user_id: int | None = None
    user_agent: str | None = None
    device_ref: str | None = None       # Collect's ?deviceID=


@dataclass
class Receipt:
    submission_id: int
    def_id: int
    instance_id: str
    action: str                         # created | edited | topped_up
    missing_attachments: list[str]
    flags: list[tuple[str, str]]


@dataclass
class Limits:
    max_xml_bytes: int = 10_000_000
    max_depth: int = 32


def check_part_name(name: str) -> None:
    """Attachment names become file names for researchers: no paths, no control characters."""
    if not name or _UNSAFE_NAME.search(name) or name in {".", ".."}:
        raise errors.bad_part_name(name)


def receive(store: Store, forms: FormCache, project_id: int, upload: Upload, limits: Limits = Limits(),
            may_submit: Callable[[dict], bool] = lambda form: True,
            scope: frozenset[str] | None = None) -> Receipt:
    """Validate and store one submission; raise a Problem (nothing stored) when it cannot be accepted.

    scope: the clusters the sender may write (an NDA's; None: any). The new data's cluster must be in it, and so
    must the stored submission's that an edit replaces or a resubmission tops up: an edit can move a submission
    neither into nor out of the sender's clusters."""
    if len(upload.xml) > limits.max_xml_bytes:
        raise errors.too_large(limits.max_xml_bytes, "submission XML")
    for name in upload.files:
        check_part_name(name)
    parsed = parse_submission(upload.xml, limits.max_depth)
    form = store.get_form(project_id, parsed.form_id)
    if form is None or not may_submit(form):
        raise errors.not_found("form") if form is None else errors.forbidden()
    form_def = store.get_form_def(form["id"], parsed.version)
    if form_def is None:
        raise errors.form_version_not_found(parsed.version)
    if form["state"] == "closed":
        raise errors.not_accepting_submissions()
    formdef = forms.get(store, form_def["id"])

    # Validation before any write. A known instanceID is looked up only under the write lock (an index lookup with
    # random keys costs most at size), except when the data are refused: an identical resubmission (Collect's retry,
    # or a split upload's next part) is then topped up as before, whatever the checks say today.
    try:
        prepared: _Prepared | None = _prepare(store, project_id, formdef, parsed)
    except errors.Problem:
        existing = store.def_by_instance(form["id"], parsed.instance_id)
        if existing is None or bytes(existing["xml"]) != upload.xml:
            raise
        prepared = None

    # Typed rows are built before taking the write lock; the ids they need are filled in under it.
    built = _built_rows(project_id, formdef, prepared, parsed.instance_id)

    def write() -> Receipt:  # under the write lock, inside a transaction shared with other submissions
        nonlocal prepared, built
        existing = store.def_by_instance(form["id"], parsed.instance_id)  # again, under the write lock
        if existing is not None:
            if not in_scope(scope, existing["cluster"]):
                raise errors.outside_clusters(None)
            return _resubmission(store, existing, parsed, upload, _kinds(formdef, parsed, prepared))
        if prepared is None:  # the row we compared with vanished between the checks
            prepared = _prepare(store, project_id, formdef, parsed)
            built = _built_rows(project_id, formdef, prepared, parsed.instance_id)
        if not in_scope(scope, _cluster_of(prepared)):   # the new data's cluster; an edit's old one below
            raise errors.outside_clusters(_cluster_of(prepared))
        meta = {"instance_id": parsed.instance_id, "deprecated_id": parsed.deprecated_id,
                "instance_name": parsed.instance_name, "encrypted": parsed.encrypted,
                "device_id": upload.device_id, "user_id": upload.user_id, "user_agent": upload.user_agent,
                "device_ref": upload.device_ref}
        if parsed.deprecated_id:
            old = store.def_by_instance(form["id"], parsed.deprecated_id)
            if old is None or old["deleted_at"]:
                raise errors.deprecated_not_found(parsed.deprecated_id)
            if not in_scope(scope, old["cluster"]):
                raise errors.outside_clusters(None)
            if not old["is_current"]:
                raise errors.edit_out_of_date(parsed.deprecated_id)
            submission_id = old["submission_id"]
            def_id = store.add_submission_def(submission_id, form["id"], form_def["id"], meta, upload.xml)
            action = "edited"
        else:
            submission_id = store.create_submission(project_id, form["id"], parsed.instance_id)
            def_id = store.add_submission_def(submission_id, form["id"], form_def["id"], meta, upload.xml, first=True)
            old, action = None, "created"
        store.add_attachment_slots(def_id, prepared.expected, prepared.client_audit)
        _fill(store, def_id, upload, prepared.kinds)
        if old is not None:
            store.carry_attachments(old["id"], def_id)
        flags = prepared.flags + _group_clash(store, project_id, submission_id, formdef.form_id, prepared.record)
        store.add_flags(def_id, flags)
        record = prepared.record or {}
        store.set_submission_scope(submission_id, _cluster_of(prepared), record.get("hamlet"),
                                   _round_of(record), len(flags), parsed.instance_name)
        monitoring.refresh(store, project_id, formdef.form_id, submission_id, def_id, prepared.record,
                           upload.device_id, upload.user_id, None, len(flags), bool(prepared.client_audit))
        if prepared.record is not None:
            # a new submission has no typed rows to replace (ids are never reused: submissions are only soft-deleted)
            tables = rows.layout(project_id, formdef) if old is not None else ()
            rows.with_ids(built, submission_id, def_id, rows.table_name(project_id, formdef.form_id))
            store.replace_rows(tables, submission_id, built)
            aggregates.refresh(store, project_id, formdef.form_id, submission_id, prepared.record)
            for list_name, items in lists.items_from_submission(formdef.form_id, prepared.record).items():
                if store.list_managed(project_id, list_name):
                    store.upsert_list_items(project_id, list_name, items, source=f"submission:{parsed.instance_id}")
        odata_entities.keep(store, forms, project_id, form, [submission_id])   # the OData body of this version
        # slots come only from prepared.expected: none expected, none missing (and no query)
        missing = [a["name"] for a in store.attachments(def_id) if a["blob_sha256"] is None] \
            if prepared.expected else []
        return Receipt(submission_id, def_id, parsed.instance_id, action, missing, flags)

    return store.write_batched(write)


def _group_clash(store: Store, project_id: int, submission_id: int, form_id: str,
                 record: dict | None) -> list[tuple[str, str]]:
    """A flag when another current ranking of this hamlet and round used the same group letter: two groups given
    one letter, or one session sent from two devices. The combination counts only the latest of them."""
    if form_id != "well_being_ranking" or not record or _round_of(record) is None or not record.get("group_id"):
        return []
    others = store.group_clashes(project_id, submission_id, _round_of(record), record.get("cluster"),
                                 record.get("hamlet"), record["group_id"])
    if not others:
        return []
    named = ", ".join(f"{o['submission_id']} (device {o['device'] or 'not known'})" for o in others)
    return [("duplicate_group", f"Group {record['group_id']} of {record.get('hamlet')} in round {_round_of(record)} "
                                f"was also submitted as submission {named}. Only the latest counts in the combined "
                                "category: give each group its own letter, or reject the duplicate.")]


def _cluster_of(prepared: "_Prepared") -> str | None:
    """The cluster a submission's data name (None: encrypted, or a form without a cluster question), as
    set_submission_scope keeps it."""
    return (prepared.record or {}).get("cluster")


def _built_rows(project_id: int, form: FormDef, prepared: "_Prepared | None",
                instance_id: str) -> dict[str, rows.TableRows] | None:
    if prepared is None or prepared.record is None:
        return None
    return rows.build(project_id, form, prepared.record, None, None, instance_id)  # ids: rows.with_ids, later


@dataclass
class _Prepared:
    record: dict | None
    expected: list[str]
    client_audit: list[str]
    flags: list[tuple[str, str]]
    kinds: dict[str, str] = field(default_factory=dict)   # file name -> image, audio, video or file


def _prepare(store: Store, project_id: int, form: FormDef, parsed: ParsedSubmission) -> _Prepared:
    """Check the data against the form (pure apart from reading list values) and work out attachments."""
    if parsed.encrypted:
        # The data are opaque; the envelope names every file to expect (docs/protocol.md 5.2).
        for name in parsed.envelope_files:
            check_part_name(name)
        audit = [n for n in parsed.envelope_files if n == "audit.csv.enc"]
        return _Prepared(None, parsed.envelope_files, audit, [])
    if form.encrypted:
        raise errors.bad_request("This form is encrypted, but the submission is not: refusing plain data.")
    extracted = extract(parsed.root, form)
    problems: dict[str, Any] = {path: ["This element is not in the form."] for path in extracted.unknown}
    try:
        record = form_schemas.load(form, extracted.record)
    except ValidationError as exc:
        problems.update(exc.messages if isinstance(exc.messages, dict) else {"submission": exc.messages})
        record = None
    if record is not None:
        problems.update(form_schemas.check_list_values(
            record, form, lambda list_file, column, values: _missing(store, project_id, list_file, column, values)))
        problems.update(lists.item_name_problems(form.form_id, record))
    if problems:
        raise errors.invalid_submission(problems, form.form_id)
    for name in extracted.binaries:
        check_part_name(name)
    audit_field = form.derived.get("audit_field", False)
    if audit_field is False:
        audit_field = form.derived["audit_field"] = next((f for f in form.fields if f.path.endswith("/meta/audit")),
                                                         None)
    audit = [record.get(audit_field.key)] if audit_field and record.get(audit_field.key) else []
    return _Prepared(record, sorted(extracted.binaries), audit, quality.flags(form.form_id, record),
                     extracted.binaries)


def _kinds(form: FormDef, parsed: ParsedSubmission, prepared: _Prepared | None) -> dict[str, str]:
    """Which kind of question named each file; encrypted files are opaque, and so only files."""
    if prepared is not None:
        return prepared.kinds
    return {} if parsed.encrypted else extract(parsed.root, form).binaries


def _missing(store: Store, project_id: int, list_file: str, column: str, values: set[str]) -> set[str] | None:
    if not store.list_managed(project_id, list_file):
        return None  # a static attachment, not a managed list: not checked
    return store.list_missing(project_id, list_file, column, values)


def _resubmission(store: Store, existing: dict, parsed: ParsedSubmission, upload: Upload,
                  kinds: dict[str, str]) -> Receipt:
    """The instanceID is known: identical XML tops up attachments; anything else is a conflict."""
    if existing["deleted_at"]:
        raise errors.Problem("409.18", "This submission has been deleted. You may not resubmit it.")
    if bytes(existing["xml"]) != upload.xml:
        if parsed.deprecated_id:
            raise errors.instance_exists(parsed.instance_id)
        raise errors.xml_conflict()
    if not existing["is_current"]:
        raise errors.edit_out_of_date(parsed.instance_id)
    _fill(store, existing["id"], upload, kinds)
    monitoring.audit_arrived(store, existing["submission_id"], existing["id"])
    missing = [a["name"] for a in store.attachments(existing["id"]) if a["blob_sha256"] is None]
    return Receipt(existing["submission_id"], existing["id"], parsed.instance_id, "topped_up", missing, [])


def _fill(store: Store, def_id: int, upload: Upload, kinds: dict[str, str]) -> None:
    """Put each uploaded part into its slot, matched by field name, else by file name (docs/protocol.md 3.3);
    files nobody expects are ignored. The type stored is the server's (media_types.decide), never the part's."""
    for name, part in upload.files.items():
        if store.fill_attachment(def_id, name, part.content, media_types.decide(kinds.get(name, "file"),
                                                                                part.content)):
            continue
        if part.filename and part.filename != name and not _UNSAFE_NAME.search(part.filename) \
                and part.filename not in upload.files:
            store.fill_attachment(def_id, part.filename, part.content,
                                  media_types.decide(kinds.get(part.filename, "file"), part.content))


def _round_of(record: dict) -> int | None:
    value = record.get("round")
    return value if isinstance(value, int) else None
