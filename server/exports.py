"""Researchers' downloads of a form's submissions: CSV zip, XLSX, JSON lines, raw XML with attachments, and
Stata .dta / SPSS .sav zips (server/export_stats.py).
Pure of Flask: every format is a generator of bytes chunks, fed from one read snapshot of the store
(store.export_snapshot(), SQL in server/storage/sqlite_exports.py) and streamed in constant memory:
rows come from cursors in batches, and zips are written by zipfile onto a non-seekable sink that is
drained after every few hundred rows (zipfile then writes data descriptors instead of seeking back).

Layout, following ODK Central's CSV export:
- `<form_id>.csv`: one row per submission: SubmissionDate, the form's fields (by name, the union of all
  versions, current version's order first), instanceName, KEY (the instanceID), SubmitterName (device or
  user), DeviceID (Collect's deviceID), AttachmentsPresent, AttachmentsExpected, ReviewState, Edits,
  FormVersion;
  a geopoint is four columns, `<name>-Latitude`, `<name>-Longitude`, `<name>-Altitude`, `<name>-Accuracy`
  (as Central's CSV), in every flat format (CSV, XLSX, .dta, .sav);
- `<form_id>-<repeat>.csv`: one row per repeat instance: its fields, PARENT_KEY, KEY
  (KEY `uuid:…/member[2]`; PARENT_KEY the submission's KEY, or the enclosing repeat row's KEY);
- with media: `media/<instanceID>/<file>`, one folder per submission (the instanceID with every character
  other than letters, digits, '.', '_' and '-' replaced by '_', so `uuid:ab12…` becomes `uuid_ab12…`),
  so two phones' files of the same name never collide. Only received files are included.
With options.excel each CSV starts with a UTF-8 byte order mark, so that Excel on Windows reads Devanagari and
Odia as text rather than mojibake. Headers and choice labels come from the form's translation options.lang
(a language the form lacks falls back to its default language, with a warning in ExportPlan.warnings);
${...} references are removed from headers. The XLSX has the same tables as sheets, with dates and date-times
as Excel dates (a phone's date-time keeps the clock time it was recorded in; its offset is dropped, as
Excel has no time zones; SubmissionDate is UTC); JSON lines has one object per submission with its repeats nested
(`__id`, the fields, each repeat as a list, `__system` with the metadata); the raw zip has
`<instanceID>/submission.xml` (the bytes as received, current version) and the submission's files beside it.

Text cells beginning with '=', '+', '-', '@', tab or carriage return are prefixed with a single quote in
CSV and XLSX (OWASP "CSV injection"), unless the text is a plain number or a list of numbers (a
negative amount, a southern latitude), which no spreadsheet executes. Numbers stored as numbers are
never touched. JSON and raw XML are data formats and are left as they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from . import errors, rows
from .catalog import FormCache
from .permissions import in_scope
from .storage.sqlite_exports import META_COLUMNS, ExportSnapshot, SubmissionFilter
from .xform_labels import ChoiceSource, FormLabels, plain_label, read_labels
from .xforms import FormDef
from .spreadsheet import DANGER, neutralise

FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("csv.zip", "application/zip"),
    "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "jsonl": ("jsonl", "application/x-ndjson"),
    "raw": ("raw.zip", "application/zip"),
    "dta": ("dta.zip", "application/zip"),
    "sav": ("sav.zip", "application/zip"),
}
STATS_FORMATS = ("dta", "sav")   # need the optional 'stats' extra (pyreadstat, pandas)
GEO_PARTS = ("Latitude", "Longitude", "Altitude", "Accuracy")
MAIN_TYPES = {"SubmissionDate": "submissionDate", "AttachmentsPresent": "int", "AttachmentsExpected": "int",
              "Edits": "int"}   # the metadata columns that are not text
META_LABELS = {"SubmissionDate": "Date and time the server received the submission (UTC)",
               "instanceName": "Instance name", "KEY": "Submission key (instanceID)",
               "SubmitterName": "Submitted by", "DeviceID": "Device ID", "AttachmentsPresent": "Attachments received",
               "AttachmentsExpected": "Attachments expected", "ReviewState": "Review state",
               "Edits": "Number of edits", "FormVersion": "Form version", "PARENT_KEY": "Key of the parent row",
               "KEY@repeat": "Row key"}
LANG_MAX = 64
REVIEW_STATES = ("received", "edited", "hasIssues", "approved", "rejected")
MAIN_BEFORE = ("SubmissionDate",)
MAIN_AFTER = ("instanceName", "KEY", "SubmitterName", "DeviceID", "AttachmentsPresent", "AttachmentsExpected",
              "ReviewState", "Edits", "FormVersion")
REPEAT_AFTER = ("PARENT_KEY", "KEY")
CHUNK = 64 * 1024
XLSX_MAX_ROWS = 1_048_576
MULTIPLE_SEPARATOR = "; "  # between the labels of a select_multiple answer
_META_SKIP = {"instanceID", "instanceName", "deprecatedID"}  # meta fields that are columns of their own
_UNSAFE_PATH = re.compile(r"[^A-Za-z0-9._-]")
_UNSAFE_FILE = re.compile(r'[<>:"|?*\\/\x00-\x1f]')


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class ExportFilters:
    """Which submissions to export.

    received_from / received_to: the date (a whole day, UTC) or date-time the server first received a
    submission, both inclusive; ISO text is accepted ('2026-11-20', '2026-11-20T10:00:00+05:30').
    clusters: the clusters asked for (None: all). allowed_clusters: the clusters the user may see (an NDA's
    restriction; None: no restriction); the export holds the intersection (over HTTP, asking for a cluster
    outside them is refused: `from_args`), and a form without a cluster question exports nothing to a
    restricted user.
    """

    received_from: str | dt.date | None = None
    received_to: str | dt.date | None = None
    clusters: frozenset[str] | None = None
    round: int | None = None
    review_states: frozenset[str] | None = None
    allowed_clusters: frozenset[str] | None = None

    @classmethod
    def from_args(cls, args, allowed: frozenset[str] | None) -> "ExportFilters":
        """The filters of a query string (since, until, cluster and review_state repeatable, round), as the
        Downloads page and the API take them; a cluster outside `allowed` is refused (403), not exported empty."""
        chosen = frozenset(c for c in args.getlist("cluster") if c) or None
        if chosen is not None and not all(in_scope(allowed, c) for c in chosen):
            raise errors.forbidden()
        round_arg = args.get("round", "")
        return cls(received_from=args.get("since") or None, received_to=args.get("until") or None,
                   clusters=chosen, round=int(round_arg) if round_arg.isdigit() else None,
                   review_states=frozenset(r for r in args.getlist("review_state") if r) or None,
                   allowed_clusters=allowed)


@dataclass
class ExportOptions:
    labels: bool = False             # question labels as column headers (CSV, XLSX)
    choice_labels: bool = False      # choice labels instead of choice values (CSV, XLSX, JSON lines)
    media: bool = False              # attachments in media/<instanceID>/ of the CSV zip
    lang: str | None = None          # the form translation for labels ('hi', 'Hindi' or 'Hindi (hi)')
    excel: bool = False              # CSV with a UTF-8 byte order mark, for Excel
    progress: Callable[[int], None] | None = None   # called with the number of rows written since last call

    @classmethod
    def from_args(cls, args) -> "ExportOptions":
        """The options of a query string, as the Downloads page and the API take them: labels=1,
        choice_labels=1, media=1, excel=1, lang=<language>; raises errors.Problem (400) on a bad lang."""
        lang = (args.get("lang") or "").strip() or None
        if lang is not None and (len(lang) > LANG_MAX or not lang.isprintable()):
            raise errors.bad_request(f"Not a language name or code: {lang[:LANG_MAX]!r}.")
        return cls(labels=args.get("labels") == "1", choice_labels=args.get("choice_labels") == "1",
                   media=args.get("media") == "1", excel=args.get("excel") == "1", lang=lang)


# --------------------------------------------------------------------------- the plan of one export


@dataclass
class Column:
    key: str                          # typed-row column (the field key)
    header: str                       # name, or label with ExportOptions.labels
    choices: ChoiceSource | None = None
    type: str = "string"              # the field's XForm type (int, decimal, date, dateTime, geopoint, select1, ...)
    label: str = ""                   # the question label in the chosen language, ${...} removed


@dataclass(frozen=True)
class Flat:
    """One column of a flat table (CSV, XLSX, .dta, .sav), a geopoint's part or a metadata column included."""

    name: str                         # the column's name: field key, '<key>-Latitude', or 'SubmissionDate' ...
    header: str                       # what CSV and XLSX headers show (the name, or the label with labels)
    type: str                         # XForm type; 'decimal' for geopoint parts; MAIN_TYPES for metadata
    label: str                        # variable label for .dta and .sav
    choices: ChoiceSource | None = None


@dataclass
class Table:
    name: str                         # typed-row table
    repeat_key: str | None            # None: the submission table
    path: str | None                  # repeat path
    parent: str | None                # repeat key of the enclosing repeat (None: the submission)
    columns: list[Column] = field(default_factory=list)
    entry: str = ""                   # CSV file name inside the zip / sheet title


@dataclass
class ExportPlan:
    """Everything decided before the first byte: validated filters, the tables and their columns."""

    store: Any
    project_id: int
    form_id: str
    filter: SubmissionFilter
    options: ExportOptions
    tables: list[Table]
    title: str = ""
    language: str | None = None       # the translation the labels came from (None: the form has none)
    warnings: list[str] = field(default_factory=list)

    @property
    def main(self) -> Table:
        return self.tables[0]

    @property
    def repeats(self) -> list[Table]:
        return self.tables[1:]


def prepare(store, forms: FormCache, project_id: int, form_id: str, filters: ExportFilters | None = None,
            options: ExportOptions | None = None) -> ExportPlan:
    """Check the request and lay out the tables; raises errors.Problem (404 unknown project or form, 400 bad
    filter) before any byte is produced."""
    filters, options = filters or ExportFilters(), options or ExportOptions()
    if store.get_project(project_id) is None:
        raise errors.not_found("project")
    form = store.get_form(project_id, form_id)
    if form is None:
        raise errors.not_found("form")
    defs = sorted(store.list_form_defs(form["id"]), key=lambda d: (d["id"] != form["current_def_id"], -d["id"]))
    formdefs = [forms.get(store, d["id"]) for d in defs]
    labels = [read_labels(store.form_def_xml(d["id"]), options.lang) for d in defs]
    tables = _tables(project_id, formdefs, labels, options)
    main_keys = {c.key for c in tables[0].columns}

    if filters.review_states is not None:
        unknown = sorted(set(filters.review_states) - set(REVIEW_STATES))
        if unknown:
            raise errors.bad_request(f"Unknown review state {', '.join(unknown)}: use one of "
                                     f"{', '.join(REVIEW_STATES)}.")
    if filters.clusters is not None and "cluster" not in main_keys:
        raise errors.bad_request(f"The form {form_id} has no cluster question to filter on.")
    round_no = filters.round
    if round_no is not None:
        if "round" not in main_keys:
            raise errors.bad_request(f"The form {form_id} has no round question to filter on.")
        try:
            round_no = int(round_no)
        except (TypeError, ValueError):
            raise errors.bad_request(f"Not a round number: {round_no!r}.") from None
    clusters = filters.clusters
    if filters.allowed_clusters is not None:
        clusters = frozenset(filters.allowed_clusters) & frozenset(clusters if clusters is not None
                                                                   else filters.allowed_clusters)
    received_from, received_to = _bound(filters.received_from, False), _bound(filters.received_to, True)
    flt = SubmissionFilter(
        form_id=form["id"], main_table=tables[0].name, received_from=received_from, received_to=received_to,
        review_states=frozenset(filters.review_states) if filters.review_states is not None else None,
        clusters=frozenset(clusters) if clusters is not None else None, round=round_no)
    return ExportPlan(store, project_id, form_id, flt, options, tables, formdefs[0].title, labels[0].language,
                      _language_warnings(form_id, options.lang, labels[0]))


def _language_warnings(form_id: str, lang: str | None, labels: FormLabels) -> list[str]:
    if lang is None or labels.found:
        return []
    used = labels.language or "the form's own labels"
    known = ", ".join(labels.languages) or "none"
    return [f"The form {form_id} has no labels in {lang!r} (its languages: {known}); {used} was used instead."]


def _tables(project_id: int, formdefs: list[FormDef], labels: list, options: ExportOptions) -> list[Table]:
    current = formdefs[0]
    main = Table(rows.table_name(project_id, current.form_id), None, None, None, entry=f"{current.form_id}.csv")
    by_key: dict[str | None, Table] = {None: main}
    repeat_paths: dict[str, str] = {}
    for form in formdefs:
        for path in form.repeats:
            repeat_paths.setdefault(form.repeat_key(path), path)
    for key, path in sorted(repeat_paths.items(), key=lambda kv: kv[1].count("/")):
        parent_path = max((p for p in repeat_paths.values() if path.startswith(p + "/")), key=len, default=None)
        parent = next((k for k, p in repeat_paths.items() if p == parent_path), None)
        by_key[key] = Table(rows.table_name(project_id, current.form_id, key), key, path, parent,
                            entry=f"{current.form_id}-{key}.csv")
    seen: set[tuple[str | None, str]] = set()
    for index, form in enumerate(formdefs):
        form_labels = labels[index] if labels else None
        for f in form.fields:
            if "/meta/" in f.path and f.name in _META_SKIP:
                continue
            scope = form.repeat_key(f.repeat) if f.repeat else None
            if (scope, f.key) in seen:
                continue
            seen.add((scope, f.key))
            label = plain_label((form_labels.questions.get(f.path) if form_labels else None) or f.label)
            header = (label or f.key) if options.labels else f.key
            choices = form_labels.choices.get(f.path) if form_labels else None
            by_key[scope].columns.append(Column(f.key, header, choices, f.type, label))
    return [main, *(t for k, t in by_key.items() if k is not None)]


def _bound(value: str | dt.date | None, end: bool) -> str | None:
    """A filter bound as the text submissions.created_at holds (UTC, milliseconds, 'Z')."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
        except ValueError:
            raise errors.bad_request(f"Not a date or date-time: {text!r} (use YYYY-MM-DD or ISO 8601).") from None
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time.max if end else dt.time.min)
        value = value.replace(tzinfo=dt.timezone.utc)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


# --------------------------------------------------------------------------- cells


def _csv_cell(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return neutralise(value)
    if kind is float and value.is_integer() and -1e15 < value < 1e15:
        return int(value)
    return value


def _xlsx_cell(value: Any) -> Any:
    if type(value) is str:
        return ILLEGAL_CHARACTERS_RE.sub("", neutralise(value))
    return value


class _Labeller:
    """Choice value -> label, static from the form or from a server-managed list (cached, bounded)."""

    def __init__(self, snapshot: ExportSnapshot, project_id: int):
        self.snapshot, self.project_id = snapshot, project_id
        self.cache: dict[tuple[str, str, str], str] = {}

    def one(self, source: ChoiceSource, value: str) -> str:
        if source.list_name is None:
            return source.labels.get(value) or value
        key = (source.list_name, source.label_column, value)
        label = self.cache.get(key)
        if label is None:
            if len(self.cache) > 20_000:
                self.cache.clear()
            if source.value_column != "name":
                label = value  # lists are keyed by name; other value columns are not looked up
            else:
                label = self.snapshot.list_item_field(self.project_id, source.list_name, value,
                                                      source.label_column) or value
            self.cache[key] = label
        return label

    def transform(self, source: ChoiceSource) -> Callable[[Any], Any]:
        if source.multiple:
            return lambda v: MULTIPLE_SEPARATOR.join(self.one(source, x) for x in v.split()) \
                if isinstance(v, str) and v else v
        return lambda v: self.one(source, v) if isinstance(v, str) and v else v


def _transforms(table: Table, labeller: _Labeller | None, offset: int) -> list[tuple[int, Callable]]:
    if labeller is None:
        return []
    return [(offset + i, labeller.transform(c.choices)) for i, c in enumerate(table.columns) if c.choices]


def _apply(row: Sequence, transforms: list[tuple[int, Callable]]) -> Sequence:
    if not transforms:
        return row
    row = list(row)
    for index, fn in transforms:
        row[index] = fn(row[index])
    return row


# --------------------------------------------------------------------------- table rows


def flat_columns(table: Table) -> list[Flat]:
    """The columns of a table's flat rows, in order: metadata, fields (a geopoint as its four parts)."""
    fields: list[Flat] = []
    for c in table.columns:
        if c.type == "geopoint":
            fields.extend(Flat(f"{c.key}-{part}", f"{c.header}-{part}", "decimal", f"{c.label or c.key} ({part})")
                          for part in GEO_PARTS)
        else:
            fields.append(Flat(c.key, c.header, c.type, c.label, c.choices))
    if table.repeat_key is None:
        return [*(_meta(n) for n in MAIN_BEFORE), *fields, *(_meta(n) for n in MAIN_AFTER)]
    return [*fields, _meta("PARENT_KEY"), Flat("KEY", "KEY", "string", META_LABELS["KEY@repeat"])]


def _meta(name: str) -> Flat:
    return Flat(name, name, MAIN_TYPES.get(name, "string"), META_LABELS[name])


def header(table: Table) -> list[str]:
    return [f.header for f in flat_columns(table)]


def _geopoint(value: Any) -> list:
    """'lat lon alt acc' as four numbers (missing parts None; text that is not a number kept as it is)."""
    if not isinstance(value, str) or not value.strip():
        return [None] * 4
    parts: list[Any] = []
    for text in value.split()[:4]:
        try:
            parts.append(float(text))
        except ValueError:
            parts.append(text)
    return parts + [None] * (4 - len(parts))


def _splitter(table: Table, offset: int) -> Callable[[list], list] | None:
    """A function that replaces each geopoint cell of a row by its four parts (None: the table has none)."""
    spots = [offset + i for i, c in enumerate(table.columns) if c.type == "geopoint"]
    if not spots:
        return None

    def split(row: list) -> list:
        out: list = []
        start = 0
        for spot in spots:
            out.extend(row[start:spot])
            out.extend(_geopoint(row[spot]))
            start = spot + 1
        out.extend(row[start:])
        return out

    return split


_M = {name: i for i, name in enumerate(META_COLUMNS)}
_N_META = len(META_COLUMNS)


def _main_row(r: Sequence) -> list:
    """A snapshot submission tuple in the CSV's column order."""
    return [r[_M["created_at"]], *r[_N_META:], r[_M["instance_name"]], r[_M["instance_id"]], r[_M["submitter"]],
            r[_M["device_ref"]], r[_M["attachments_present"]], r[_M["attachments_expected"]],
            r[_M["review_state"]], r[_M["edits"]], r[_M["form_version"]]]


def table_rows(plan: ExportPlan, snapshot: ExportSnapshot, table: Table,
               labeller: _Labeller | None = None) -> Iterator[Sequence]:
    """A table's rows in header() order, with choice labels applied when asked; cells not yet neutralised."""
    keys = [c.key for c in table.columns]
    if table.repeat_key is None:
        transforms, split = _transforms(table, labeller, _N_META), _splitter(table, len(MAIN_BEFORE))
        for r in snapshot.submissions(plan.filter, keys):
            row = _main_row(_apply(r, transforms))
            yield split(row) if split else row
    else:
        transforms, split = _transforms(table, labeller, 3), _splitter(table, 0)
        for r in snapshot.repeat_rows(plan.filter, table.name, keys):
            r = _apply(r, transforms)
            row = [*r[3:], r[2], r[1]]
            yield split(row) if split else row


def count_rows(plan: ExportPlan) -> int:
    """How many rows (all tables) the export holds: for progress bars and the benchmark."""
    with plan.store.export_snapshot() as snapshot:
        return sum(snapshot.count(plan.filter, t.name) for t in plan.tables)


class _Progress:
    def __init__(self, fn: Callable[[int], None] | None, every: int = 500):
        self.fn, self.every, self.pending = fn, every, 0

    def tick(self) -> bool:
        self.pending += 1
        if self.pending >= self.every:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        if self.pending and self.fn is not None:
            self.fn(self.pending)
        self.pending = 0


# --------------------------------------------------------------------------- zips on a non-seekable sink


class _Sink:
    """A write-only, non-seekable file for zipfile: what is written is taken out in chunks."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts, self.size = [], 0
        return data


def _zip(build: Callable[[zipfile.ZipFile], Iterator[None]]) -> Iterator[bytes]:
    """Run `build`, which writes entries and yields now and then; hand out what it wrote, CHUNK at a time."""
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    steps = build(archive)
    try:
        for _ in steps:
            if sink.size >= CHUNK:
                yield sink.take()
    finally:
        steps.close()
    archive.close()
    if sink.size:
        yield sink.take()


def _info(archive: zipfile.ZipFile, name: str, stamp: tuple, size: int | None = None) -> zipfile.ZipInfo:
    if name in archive.NameToInfo:
        stem, dot, ext = name.rpartition(".")
        n = 2
        while f"{stem or ext} ({n}){dot}{ext if stem else ''}" in archive.NameToInfo:
            n += 1
        name = f"{stem or ext} ({n}){dot}{ext if stem else ''}"
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    if size is not None:
        info.file_size = size
    return info


def _stamp() -> tuple:
    return dt.datetime.now().timetuple()[:6]


def _csv_entry(archive: zipfile.ZipFile, name: str, head: list[str], body: Iterable[Sequence],
               progress: _Progress, stamp: tuple, excel: bool = False) -> Iterator[None]:
    with archive.open(_info(archive, name, stamp), "w", force_zip64=True) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig" if excel else "utf-8", newline="", write_through=False)
        writer = csv.writer(text)
        writer.writerow([_csv_cell(h) for h in head])
        cell, danger = _csv_cell, DANGER
        for row in body:
            # inline fast path: None, ints and harmless text as they are; the rest through _csv_cell
            writer.writerow([v if v is None or type(v) is int or (type(v) is str and v[:1] not in danger)
                             else cell(v) for v in row])
            if progress.tick():
                yield
        text.flush()
        text.detach()
    progress.flush()
    yield


def _blob_entry(archive: zipfile.ZipFile, snapshot: ExportSnapshot, name: str, sha: str, size: int,
                stamp: tuple) -> Iterator[None]:
    with archive.open(_info(archive, name, stamp, size), "w") as out:
        for chunk in snapshot.blob_chunks(sha):
            out.write(chunk)
            yield


def folder_name(instance_id: str) -> str:
    """A submission's folder in a zip: its instanceID with path-unsafe characters replaced by '_'."""
    return _UNSAFE_PATH.sub("_", instance_id) or "_"


def _file_name(name: str) -> str:
    return _UNSAFE_FILE.sub("_", name) or "_"


# --------------------------------------------------------------------------- formats


def csv_zip(plan: ExportPlan) -> Iterator[bytes]:
    """One CSV per table, and with options.media the attachments under media/<instanceID>/."""

    def build(archive: zipfile.ZipFile) -> Iterator[None]:
        stamp = _stamp()
        progress = _Progress(plan.options.progress)
        with plan.store.export_snapshot() as snapshot:
            labeller = _Labeller(snapshot, plan.project_id) if plan.options.choice_labels else None
            for table in plan.tables:
                yield from _csv_entry(archive, table.entry, header(table), table_rows(plan, snapshot, table, labeller),
                                      progress, stamp, plan.options.excel)
            if plan.options.media:
                for _sid, instance_id, name, sha, size in snapshot.media(plan.filter):
                    yield from _blob_entry(archive, snapshot, f"media/{folder_name(instance_id)}/{_file_name(name)}",
                                           sha, size, stamp)

    return _zip(build)


def raw_zip(plan: ExportPlan) -> Iterator[bytes]:
    """<instanceID>/submission.xml, byte for byte as received, and the submission's files beside it."""

    def build(archive: zipfile.ZipFile) -> Iterator[None]:
        stamp = _stamp()
        progress = _Progress(plan.options.progress, every=50)
        with plan.store.export_snapshot() as snapshot:
            files = _Peekable(snapshot.media(plan.filter, raw=True))
            for sid, _def_id, instance_id, xml in snapshot.raw_submissions(plan.filter):
                folder = folder_name(instance_id)
                with archive.open(_info(archive, f"{folder}/submission.xml", stamp, len(xml)), "w") as out:
                    out.write(xml)
                yield
                while files.peek() is not None and files.peek()[0] <= sid:
                    fsid, _iid, name, sha, size = next(files)
                    if fsid == sid:
                        yield from _blob_entry(archive, snapshot, f"{folder}/{_file_name(name)}", sha, size, stamp)
                progress.tick()
            progress.flush()

    return _zip(build)


def xlsx(plan: ExportPlan) -> Iterator[bytes]:
    """One sheet per table (openpyxl write-only: rows go to temporary files, memory stays flat), then the
    workbook, assembled in a temporary file, streamed out. Nothing is sent before the workbook is complete."""
    from openpyxl import Workbook

    def generate() -> Iterator[bytes]:
        workbook = Workbook(write_only=True)
        progress = _Progress(plan.options.progress)
        with plan.store.export_snapshot() as snapshot:
            labeller = _Labeller(snapshot, plan.project_id) if plan.options.choice_labels else None
            titles: set[str] = set()
            for table in plan.tables:
                head = [_xlsx_cell(h) for h in header(table)]
                dates = temporal_cells(flat_columns(table))
                base = _sheet_title(table.repeat_key or plan.form_id, titles)
                sheet, part, used = workbook.create_sheet(base), 1, 1
                sheet.append(head)
                for row in table_rows(plan, snapshot, table, labeller):
                    if used >= XLSX_MAX_ROWS:  # continue on another sheet past Excel's row limit
                        part += 1
                        sheet, used = workbook.create_sheet(_sheet_title(f"{base} ({part})", titles)), 1
                        sheet.append(head)
                    for index, parse in dates:
                        row[index] = parse(row[index])
                    sheet.append([_xlsx_cell(v) for v in row])
                    used += 1
                    progress.tick()
            progress.flush()
        with tempfile.TemporaryFile() as spool:
            workbook.save(spool)
            spool.seek(0)
            while True:
                chunk = spool.read(1 << 20)
                if not chunk:
                    break
                yield chunk

    return generate()


def parse_date(value: Any) -> Any:
    """An ODK date ('2026-11-20') as a date; anything else as it is."""
    if isinstance(value, str) and value:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    return value


def parse_datetime(value: Any) -> Any:
    """An ISO date-time as a naive datetime in the clock time it was written in (spreadsheets and statistics
    packages have no time zones); anything else as it is."""
    if isinstance(value, str) and value:
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
        except ValueError:
            return value
    return value


_PARSERS = {"date": parse_date, "dateTime": parse_datetime, "submissionDate": parse_datetime}


def temporal_cells(flats: Sequence[Flat]) -> list[tuple[int, Callable[[Any], Any]]]:
    """(index, parser) for the date and date-time columns of a flat row."""
    return [(i, _PARSERS[f.type]) for i, f in enumerate(flats) if f.type in _PARSERS]


def _sheet_title(name: str, used: set[str]) -> str:
    title = re.sub(r"[\[\]:*?/\\]", "_", name)[:31] or "sheet"
    n = 2
    while title.lower() in used:
        suffix = f" ({n})"
        title = title[:31 - len(suffix)] + suffix
        n += 1
    used.add(title.lower())
    return title


def jsonl(plan: ExportPlan) -> Iterator[bytes]:
    """One JSON object per line and submission: __id, the fields, each repeat as a list of objects (nested
    repeats inside their parent rows), and __system with the submission metadata."""

    def generate() -> Iterator[bytes]:
        progress = _Progress(plan.options.progress)
        with plan.store.export_snapshot() as snapshot:
            labeller = _Labeller(snapshot, plan.project_id) if plan.options.choice_labels else None
            streams = [(table, [c.key for c in table.columns], _transforms(table, labeller, 3),
                        _Peekable(snapshot.repeat_rows(plan.filter, table.name, [c.key for c in table.columns])))
                       for table in plan.repeats]
            try:
                yield from _buffered(_json_objects(plan, snapshot, labeller, streams, progress))
            finally:
                for *_, stream in streams:
                    stream.close()
            progress.flush()

    return generate()


def _json_objects(plan: ExportPlan, snapshot: ExportSnapshot, labeller: _Labeller | None, streams: list,
                  progress: _Progress) -> Iterator[bytes]:
    main_keys = [c.key for c in plan.main.columns]
    main_transforms = _transforms(plan.main, labeller, _N_META)
    children = {t.repeat_key: [c.repeat_key for c in plan.repeats if c.parent == t.repeat_key] for t in plan.tables}
    for r in snapshot.submissions(plan.filter, main_keys):
        r = _apply(r, main_transforms)
        sid, key = r[_M["submission_id"]], r[_M["instance_id"]]
        obj: dict[str, Any] = {"__id": key, **dict(zip(main_keys, r[_N_META:]))}
        for child in children[None]:
            obj[child] = []
        by_key = {key: obj}
        for table, keys, transforms, stream in streams:
            while stream.peek() is not None and stream.peek()[0] <= sid:
                row = next(stream)
                if row[0] != sid:
                    continue
                row = _apply(row, transforms)
                item: dict[str, Any] = {"__id": row[1], **dict(zip(keys, row[3:]))}
                for child in children[table.repeat_key]:
                    item[child] = []
                by_key.get(row[2], obj).setdefault(table.repeat_key, []).append(item)
                by_key[row[1]] = item
                progress.tick()
        obj["__system"] = {
            "submissionDate": r[_M["created_at"]], "reviewState": r[_M["review_state"]],
            "submitterName": r[_M["submitter"]], "deviceId": r[_M["device_ref"]],
            "instanceName": r[_M["instance_name"]], "formVersion": r[_M["form_version"]],
            "edits": r[_M["edits"]], "attachmentsPresent": r[_M["attachments_present"]],
            "attachmentsExpected": r[_M["attachments_expected"]]}
        progress.tick()
        yield json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def _buffered(lines: Iterator[bytes]) -> Iterator[bytes]:
    out: list[bytes] = []
    size = 0
    for line in lines:
        out.append(line)
        size += len(line)
        if size >= CHUNK:
            yield b"".join(out)
            out, size = [], 0
    if out:
        yield b"".join(out)


class _Peekable:
    def __init__(self, iterator: Iterator):
        self.iterator = iter(iterator)
        self.head: Any = None
        self.ready = False

    def peek(self) -> Any:
        if not self.ready:
            self.head = next(self.iterator, None)
            self.ready = True
        return self.head

    def __iter__(self) -> "_Peekable":
        return self

    def __next__(self) -> Any:
        value = self.peek()
        if value is None:
            raise StopIteration
        self.ready = False
        return value

    def close(self) -> None:
        close = getattr(self.iterator, "close", None)
        if close is not None:
            close()


def _stats(kind: str) -> Callable[[ExportPlan], Iterator[bytes]]:
    def write(plan: ExportPlan) -> Iterator[bytes]:
        from .export_stats import stats_zip   # pandas and pyreadstat load only for these formats
        return stats_zip(plan, kind)
    return write


WRITERS: dict[str, Callable[[ExportPlan], Iterator[bytes]]] = {"csv": csv_zip, "xlsx": xlsx, "jsonl": jsonl,
                                                                "raw": raw_zip, "dta": _stats("dta"),
                                                                "sav": _stats("sav")}


def export_response_parts(store, forms: FormCache, project_id: int, form_id: str, fmt: str,
                          filters: ExportFilters | None = None, options: ExportOptions | None = None
                          ) -> tuple[str, str, Iterator[bytes]]:
    """(filename, content type, iterator of bytes) for the HTTP layer. Everything is checked here, before
    the iterator starts (errors.Problem: 404 unknown project/form, 400 bad format or filter); the iterator
    opens its own read snapshot on its first step and closes it when exhausted or closed."""
    if fmt not in FORMATS:
        raise errors.bad_request(f"Unknown export format {fmt!r}: use one of {', '.join(FORMATS)}.")
    if fmt in STATS_FORMATS:
        require_stats(fmt)
    plan = prepare(store, forms, project_id, form_id, filters, options)
    suffix, content_type = FORMATS[fmt]
    return f"{form_id}.{suffix}", content_type, WRITERS[fmt](plan)


def require_stats(fmt: str) -> None:
    """Raise errors.stats_missing (501) when the optional 'stats' extra (pyreadstat, pandas) is not installed."""
    import importlib.util

    if importlib.util.find_spec("pyreadstat") is None or importlib.util.find_spec("pandas") is None:
        raise errors.stats_missing(fmt)
