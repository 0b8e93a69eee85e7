"""Stata .dta and SPSS .sav exports: a zip of one file per table (`<form_id>.dta`, `<form_id>-<repeat>.dta`,
the same tables and KEY / PARENT_KEY join as the CSV zip), `codebook.csv` and `README.txt`.

Written with pyreadstat (the optional 'stats' extra, with pandas). What each package can hold decides the shape:
- variable names: Stata allows 32 characters of letters, digits and '_' (SPSS 64, not starting with '_');
  variable_names() maps every column to a name valid in both, reproducibly (the same columns always give the
  same names), and codebook.csv lists every name beside the column it stands for;
- variable labels: the question label in the chosen language (Stata keeps 80 characters, SPSS 256 bytes);
- value labels: Stata attaches value labels to integer variables only, so a select_one with the form's own
  choices is written as integers with the choice labels as value labels, in both formats (one codebook for
  both). Choice codes that are all whole numbers keep their number; otherwise the choices are numbered 1, 2, …
  in the order of the form's choice list (codebook.csv says which number is which code). A select_one over a
  server-managed list (select_one_from_file) stays text: its codes are the data;
- select_multiple: the answer as text (space-separated codes), then one 0/1 variable per choice of the form,
  labelled '<question>: <choice>' (missing where the question was not answered);
- dates and date-times as Stata %td / %tc and SPSS DATE / DATETIME (a phone's clock time, offset dropped;
  SubmissionDate in UTC); geopoints as four numbers (exports.flat_columns).

Memory: pyreadstat writes a whole data frame, so each table is held in memory while it is written (one table at a
time; the zip around it streams). scripts/measure_stats_export measures how much; README.md gives the figures.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from array import array
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .exports import (ExportPlan, Flat, Table, _info, _Progress, _stamp, _zip, flat_columns, table_rows,
                      temporal_cells)

STATA_NAME_MAX = 32
_NAN = float("nan")
_INVALID = re.compile(r"[^A-Za-z0-9_]+")
_WHOLE = re.compile(r"-?\d{1,9}")
# Stata's reserved names (help reswords) and SPSS's reserved keywords, compared without case
_RESERVED = frozenset(w.lower() for w in (
    "_all _b byte _coef _cons double float if in int long _n _pi _pred _rc _skip str strl using with "
    "all and by eq ge gt le lt ne not or to").split())
_STR_N = re.compile(r"str\d+", re.IGNORECASE)
LABEL_MAX = {"dta": 80, "sav": 256}          # variable label: Stata characters, SPSS bytes
VALUE_LABEL_MAX = {"dta": 32000, "sav": 120}  # value label text: Stata characters, SPSS bytes


def variable_names(columns: list[str]) -> list[str]:
    """Names valid in Stata and SPSS for these columns, in order, unique without regard to case: characters
    other than letters, digits and '_' become '_'; a name not starting with a letter gets a 'v' in front; a
    reserved word gets '_' behind; the name is cut to 32 characters, and a name already taken ends in _2, _3, …"""
    used: set[str] = set()
    out: list[str] = []
    for column in columns:
        base = _INVALID.sub("_", column).strip("_") or "v"
        if not base[0].isascii() or not base[0].isalpha():
            base = "v" + base
        if base.lower() in _RESERVED or _STR_N.fullmatch(base):
            base += "_"
        name, n = base[:STATA_NAME_MAX], 1
        while name.lower() in used:
            n += 1
            suffix = f"_{n}"
            name = base[:STATA_NAME_MAX - len(suffix)] + suffix
        used.add(name.lower())
        out.append(name)
    return out


def _cut(text: str, limit: int, in_bytes: bool) -> str:
    if not in_bytes:
        return text[:limit]
    data = text.encode("utf-8")[:limit]
    return data.decode("utf-8", errors="ignore")


@dataclass
class Variable:
    """One variable of a .dta / .sav table, and where its values come from in the flat row."""

    column: str                       # the flat column (CSV name) it stands for
    source: int                       # index in the flat row
    kind: str                         # text, int, float, date, datetime, coded, dummy
    label: str
    name: str = ""
    codes: dict[str, int] = field(default_factory=dict)        # coded: choice code -> number
    code_labels: dict[str, str] = field(default_factory=dict)  # coded: choice code -> label
    choice: str = ""                  # dummy: the choice code it counts


_KINDS = {"int": "int", "integer": "int", "decimal": "float", "date": "date", "dateTime": "datetime",
          "submissionDate": "datetime"}


def plan_variables(flats: list[Flat]) -> list[Variable]:
    """The variables of a table, in order, with their names mapped (variable_names)."""
    out: list[Variable] = []
    for index, flat in enumerate(flats):
        source = flat.choices if flat.choices is not None and flat.choices.list_name is None else None
        label = flat.label or flat.name
        if source is not None and flat.type == "select1":
            codes = list(source.labels)
            numbers = ({c: int(c) for c in codes} if codes and all(_WHOLE.fullmatch(c) and str(int(c)) == c
                                                                   for c in codes)
                       else {c: i for i, c in enumerate(codes, start=1)})
            out.append(Variable(flat.name, index, "coded", label, codes=numbers,
                                code_labels={c: source.labels[c] or c for c in codes}))
        elif source is not None and flat.type == "select":
            out.append(Variable(flat.name, index, "text", label))
            out.extend(Variable(f"{flat.name}_{code}", index, "dummy", f"{label}: {text or code}", choice=code)
                       for code, text in source.labels.items())
        else:
            out.append(Variable(flat.name, index, _KINDS.get(flat.type, "text"), label))
    for variable, name in zip(out, variable_names([v.column for v in out])):
        variable.name = name
    return out


def _converter(variable: Variable) -> Callable[[Any], Any]:
    """What one cell of the flat row becomes in this variable (applied as rows stream in, so that a table held in
    memory holds small numbers rather than the code strings they stand for)."""
    kind = variable.kind
    if kind == "text":
        return lambda v: None if v is None else str(v)
    if kind == "int":
        return lambda v: v if v is None or isinstance(v, int) else _number(v, int)
    if kind == "float":   # kept in an array of doubles (8 bytes a value), missing as NaN
        return lambda v: _NAN if v is None else _number(v, float, _NAN)
    if kind == "dummy":
        choice = variable.choice
        return lambda v: None if not isinstance(v, str) or not v.strip() else int(choice in v.split())
    if kind == "coded":
        return lambda v: _code(variable, v)
    return lambda v: v if not isinstance(v, str) else None   # date, datetime: parsed by temporal_cells


def _code(variable: Variable, value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    number = variable.codes.get(value)
    if number is None:   # a code the form's current choices lack (an older version's): numbered after them
        number = variable.codes[value] = max(variable.codes.values(), default=0) + 1
        variable.code_labels[value] = value
    return number


def _number(value: Any, kind: type, missing: Any = None) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        return missing


_EMPTY_DATES = {"dta": {"date": "%td", "datetime": "%tc"}, "sav": {"date": "DATE11", "datetime": "DATETIME20"}}


def _columns(variables: list[Variable], rows: Iterator[list], dates: list, progress: _Progress) -> list[list]:
    """The table's values, one list per variable, converted as the rows stream in."""
    columns: list = [array("d") if v.kind == "float" else [] for v in variables]
    plan = [(column.append, variable.source, _converter(variable)) for column, variable in zip(columns, variables)]
    for row in rows:
        row = list(row)
        for index, parse in dates:
            row[index] = parse(row[index])
        for append, source, convert in plan:
            append(convert(row[source]))
        progress.tick()
    return columns


def _frame(kind: str, variables: list[Variable], columns: list[list]):
    """The data frame of a table, and the display formats of date columns with no value (pyreadstat takes a
    date column's type from its values, so an empty one is written as missing numbers with a date format).
    Each list is dropped once its column is built."""
    import numpy as np
    import pandas as pd

    data: dict[str, Any] = {}
    formats: dict[str, str] = {}
    length = len(columns[0]) if columns else 0
    for index, v in enumerate(variables):
        cells, columns[index] = columns[index], []
        if v.kind in ("date", "datetime") and all(c is None for c in cells):
            data[v.name] = pd.Series([float("nan")] * len(cells), dtype="float64")
            formats[v.name] = _EMPTY_DATES[kind][v.kind]
        elif v.kind in ("int", "coded", "dummy"):
            data[v.name] = pd.array(cells, dtype="Int64")
        elif v.kind == "float":
            data[v.name] = pd.Series(np.frombuffer(cells, dtype="float64") if len(cells) else [], dtype="float64")
        elif v.kind == "datetime":
            data[v.name] = pd.to_datetime(pd.Series(cells, dtype="object"), errors="coerce")
        else:   # text, and dates as date objects (pyreadstat writes them as Stata %td, SPSS DATE)
            data[v.name] = pd.Series(cells, dtype="object")
    return pd.DataFrame(data, index=pd.RangeIndex(length)), formats


def _write(kind: str, frame, formats: dict[str, str], variables: list[Variable], path: Path, title: str) -> None:
    import pyreadstat

    in_bytes = kind == "sav"
    labels = {v.name: _cut(v.label, LABEL_MAX[kind], in_bytes) for v in variables}
    values = {v.name: {n: _cut(v.code_labels[c], VALUE_LABEL_MAX[kind], in_bytes) or c for c, n in v.codes.items()}
              for v in variables if v.kind == "coded" and v.codes}
    if kind == "dta":
        pyreadstat.write_dta(frame, str(path), file_label=title[:80], column_labels=labels,
                             variable_value_labels=values, variable_format=formats)
    else:
        pyreadstat.write_sav(frame, str(path), file_label=title[:64], column_labels=labels,
                             variable_value_labels=values, variable_format=formats)


def _table_file(kind: str, plan: ExportPlan, snapshot, table: Table, progress: _Progress,
                folder: Path) -> tuple[Path, list[Variable]]:
    flats = flat_columns(table)
    variables = plan_variables(flats)
    columns = _columns(variables, table_rows(plan, snapshot, table), temporal_cells(flats), progress)
    frame, formats = _frame(kind, variables, columns)
    del columns
    path = folder / f"table.{kind}"
    _write(kind, frame, formats, variables, path, plan.title)
    return path, variables


def _codebook(entries: list[tuple[str, list[Variable]]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["file", "variable", "column", "type", "label", "values"])
    for file_name, variables in entries:
        for v in variables:
            values = "; ".join(f"{n}={code} ({v.code_labels.get(code, code)})" for code, n in v.codes.items())
            if v.kind == "dummy":
                values = f"1=chose {v.choice}; 0=did not"
            writer.writerow([file_name, v.name, v.column, v.kind, v.label, values])
    return out.getvalue().encode("utf-8-sig")


def _readme(plan: ExportPlan, kind: str, files: list[str]) -> bytes:
    package = "Stata" if kind == "dta" else "SPSS"
    lines = [f"{plan.form_id}: {plan.title}", "",
             f"One {package} file per table: {', '.join(files)}.",
             "Join repeat rows to their parent row with PARENT_KEY = KEY.",
             "codebook.csv lists every variable: its name here, the export column it stands for, its label, and "
             "the number of each choice code.",
             f"Labels: {plan.language or 'the form has one language'}."]
    lines += [f"Warning: {w}" for w in plan.warnings]
    return ("\n".join(lines) + "\n").encode("utf-8")


def stats_zip(plan: ExportPlan, kind: str) -> Iterator[bytes]:
    """The zip of one .dta or .sav file per table, codebook.csv and README.txt. Each table is built in memory
    and written to a temporary file by pyreadstat, then streamed into the zip."""

    def build(archive: zipfile.ZipFile) -> Iterator[None]:
        stamp = _stamp()
        progress = _Progress(plan.options.progress)
        entries: list[tuple[str, list[Variable]]] = []
        with plan.store.export_snapshot() as snapshot, tempfile.TemporaryDirectory() as folder:
            for table in plan.tables:
                path, variables = _table_file(kind, plan, snapshot, table, progress, Path(folder))
                name = table.entry[:-len(".csv")] + f".{kind}"
                with open(path, "rb") as data, archive.open(_info(archive, name, stamp), "w",
                                                            force_zip64=True) as out:
                    for chunk in iter(lambda: data.read(1 << 16), b""):
                        out.write(chunk)
                        yield
                path.unlink()
                entries.append((name, variables))
            progress.flush()
        with archive.open(_info(archive, "codebook.csv", stamp), "w") as out:
            out.write(_codebook(entries))
        with archive.open(_info(archive, "README.txt", stamp), "w") as out:
            out.write(_readme(plan, kind, [e[0] for e in entries]))
        yield

    return _zip(build)
