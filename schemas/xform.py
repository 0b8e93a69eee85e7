"""Marshmallow schemas built from a published XForm's binds: types, required, choices, repeats.

A schema loads the string answers of one submission (xforms.extract) into typed Python
values, or raises ValidationError whose messages name each offending field. Answers
drawn from server-managed CSV lists are checked separately (check_list_values), because
those lists change while the schema stays the same.

Each answer-type rule (whole number, decimal, date, dateTime, time, geopoint, geotrace and
geoshape, file name, select one, select many and rank) is written once, as a converter
function: text in, typed value out, or ValidationError with the message. The schema's
field classes call their converter (``field.convert``); load() is the ingest path's fast
equivalent of ``schema_for(form).load``: a plan compiled from the same schema calls the
same converters and leaves any refused answer or unusual record to marshmallow.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from marshmallow import EXCLUDE, Schema, ValidationError, fields


# What a schema reads of a published form. server.xforms.Field and FormDef have these attributes; the schemas do not
# import the server (the server imports them), so the package stays pure validation with no cycle between the two.

class Field(Protocol):
    key: str                        # unique key within its repeat scope
    type: str                       # XForm bind type: string, int, decimal, date, select1, select, odk:rank, ...
    repeat: str | None              # path of the innermost repeat holding it
    required: bool
    conditional: bool               # relevance on itself or an ancestor: may legitimately be absent
    calculate: bool
    choices: frozenset[str] | None  # static choice values
    choice_list: str | None         # the CSV list a select_one_from_file draws from
    choice_column: str


class FormDef(Protocol):
    form_id: str
    version: str
    fields: Sequence[Field]
    repeats: list[str]              # repeat paths, outermost first
    derived: dict                   # per-version caches: the schema and its fast plan are kept here

    def repeat_key(self, path: str) -> str: ...


# --------------------------------------------------------------------------- the answer-type rules, once each
#
# One plain converter per answer type: the text of an answer in, its typed value out, or ValidationError with the
# message the enumerator sees. The field classes below call them for marshmallow; the compiled plan (load) calls the
# very same functions, read from the schema's own fields.

_INT_MIN, _INT_MAX = -2**63, 2**63 - 1      # what SQLite stores as an INTEGER (JavaRosa's int is 32-bit)
_INT_TEXT = re.compile(r"\s*[-+]?\d+\s*")
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
_NAME_UNSAFE = re.compile(r"[/\\\x00-\x1f]")
_NOT_A_NUMBER = "Not a number: {input!r}."
_NOT_FINITE = "Special numeric values (nan or infinity) are not permitted."


def _whole_in_range(number: int, given: Any) -> int:
    if not _INT_MIN <= number <= _INT_MAX:
        raise ValidationError(f"Whole number out of range: {given!r}.")
    return number


def whole_number(text: str) -> int:
    """int and integer: optional sign and digits, spaces around allowed, within SQLite's 64-bit INTEGER."""
    if not _INT_TEXT.fullmatch(text):
        raise ValidationError(f"Not a whole number: {text!r}.")
    try:
        number = int(text)
    except ValueError:   # more digits than Python converts (4300): far beyond the range anyway
        raise ValidationError(f"Whole number out of range: {text!r}.") from None
    return _whole_in_range(number, text)


def _finite(number: float) -> float:
    if math.isnan(number) or math.isinf(number):
        raise ValidationError(_NOT_FINITE)
    return number


def decimal_number(text: str) -> float:
    """decimal: anything Python reads as a float, except NaN and infinity."""
    try:
        number = float(text)
    except ValueError:
        raise ValidationError(_NOT_A_NUMBER.format(input=text)) from None
    return _finite(number)


def iso_date(text: str) -> dt.date:
    """date: YYYY-MM-DD (spaces around allowed), a real calendar day."""
    stripped = text.strip()
    if not _DATE_TEXT.fullmatch(stripped):
        raise ValidationError(f"Not a date (YYYY-MM-DD): {text!r}.")
    try:
        return dt.date.fromisoformat(stripped)
    except ValueError:
        raise ValidationError(f"Not a valid date: {text!r}.") from None


def _kept_as_given(parse: Callable[[str], Any], what: str) -> Callable[[str], str]:
    """A rule for text that is checked with parse (ISO 8601) and kept as the phone wrote it."""
    def convert(text: str) -> str:
        try:
            parse(text)
        except ValueError:
            raise ValidationError(f"Not a valid {what}: {text!r}.") from None
        return text
    return convert


# dateTime: JavaRosa writes 2026-11-22T05:31:56.172+05:30 (or Z); time: an ISO 8601 time of day
iso_date_time = _kept_as_given(dt.datetime.fromisoformat, "date and time")
iso_time = _kept_as_given(dt.time.fromisoformat, "time")


def geopoint(text: str) -> str:
    """geopoint: 'latitude longitude [altitude accuracy]', finite, in range, accuracy not negative; kept as given."""
    parts = text.split()
    if not 2 <= len(parts) <= 4:
        raise ValidationError(f"A location is 'latitude longitude [altitude accuracy]', not {text!r}.")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValidationError(f"A location must be numbers, not {text!r}.") from None
    if any(math.isnan(n) or math.isinf(n) for n in numbers):
        raise ValidationError(f"A location must be finite numbers, not {text!r}.")
    if not -90 <= numbers[0] <= 90 or not -180 <= numbers[1] <= 180:
        raise ValidationError(f"Latitude or longitude out of range in {text!r}.")
    if len(numbers) == 4 and numbers[3] < 0:
        raise ValidationError(f"Accuracy cannot be negative in {text!r}.")
    return text


def geotrace(text: str) -> str:
    """geotrace and geoshape: geopoints separated by ';' (a trailing ';' is fine); kept as given."""
    for point in filter(None, (p.strip() for p in text.split(";"))):
        geopoint(point)
    return text


def file_name(text: str) -> str:
    """binary: the name of an attachment, never a path."""
    if _NAME_UNSAFE.search(text) or text in {".", ".."}:
        raise ValidationError(f"{text!r} is not a plain file name.")
    return text


def one_of(choices: frozenset[str]) -> Callable[[str], str]:
    """select1: the converter for one choice among the form's static choices."""
    def select_one(text: str) -> str:
        if text not in choices:
            raise ValidationError(f"{text!r} is not one of the choices.")
        return text
    return select_one


def some_of(choices: frozenset[str] | None, ranked: bool) -> Callable[[str], str]:
    """select and odk:rank: space-separated choice names, spaces normalised; a rank names no item twice."""
    def select_many(text: str) -> str:
        picked = text.split()
        if choices is not None:
            bad = [p for p in picked if p not in choices]
            if bad:
                raise ValidationError(f"{' '.join(bad)!r} not among the choices.")
        if ranked and len(set(picked)) != len(picked):
            raise ValidationError("A ranked item appears twice.")
        return " ".join(picked)
    return select_many


# --------------------------------------------------------------------------- marshmallow fields calling the rules
#
# Each field carries its converter as ``convert`` (None: any text is fine). Its _deserialize hands text answers to the
# converter; what is not text (never in a form's XML) gets the marshmallow base class's own handling: Integer and
# Decimal take numbers, then the same range and finiteness rules; Date takes date objects; the others refuse it.

class _Blank(fields.Field):
    """Base: the empty string is how XForms say 'no answer'; it loads as None."""

    convert: Callable[[str], Any] | None = None

    def deserialize(self, value: Any, attr: str | None = None, data: Mapping | None = None, **kwargs: Any) -> Any:
        if value == "":
            value = None
        return super().deserialize(value, attr, data, **kwargs)


class Text(_Blank, fields.String):
    """Text answers; subclasses check the text with their converter (bytes are decoded first, as String does)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        return text if self.convert is None else self.convert(text)


class Integer(_Blank, fields.Integer):
    convert = staticmethod(whole_number)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str):
            return self.convert(value)
        return _whole_in_range(super()._deserialize(value, attr, data, **kwargs), value)


class Decimal(_Blank, fields.Float):
    default_error_messages = {"invalid": _NOT_A_NUMBER}
    convert = staticmethod(decimal_number)

    def __init__(self, **kwargs: Any):
        super().__init__(allow_nan=True, **kwargs)   # finiteness is decimal_number's rule (_finite), not Float's

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, str):
            return self.convert(value)
        return _finite(super()._deserialize(value, attr, data, **kwargs))


class Date(_Blank, fields.Date):
    convert = staticmethod(iso_date)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.date:
        if isinstance(value, str):
            return self.convert(value)
        return super()._deserialize(value, attr, data, **kwargs)


class DateTime(Text):
    convert = staticmethod(iso_date_time)


class Time(Text):
    convert = staticmethod(iso_time)


class GeoPoint(Text):
    convert = staticmethod(geopoint)


class GeoTrace(Text):
    convert = staticmethod(geotrace)


class FileName(Text):
    convert = staticmethod(file_name)


class SelectOne(Text):
    """One choice; without static choices (a choice filter over a repeat, a CSV list) any text: type only."""

    def __init__(self, choices: Iterable[str] | None, **kwargs: Any):
        super().__init__(**kwargs)
        self.convert = one_of(frozenset(choices)) if choices is not None else None


class SelectMany(Text):
    """Space-separated choice names (select_multiple and rank); kept as the submitted string, spaces normalised."""

    def __init__(self, choices: Iterable[str] | None, ranked: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.convert = some_of(frozenset(choices) if choices is not None else None, ranked)


_BY_TYPE: dict[str, Callable[..., fields.Field]] = {
    "int": Integer, "integer": Integer, "decimal": Decimal, "date": Date, "dateTime": DateTime, "time": Time,
    "geopoint": GeoPoint, "geotrace": GeoTrace, "geoshape": GeoTrace, "binary": FileName,
}
# The classes whose text answers load exactly as ``field.convert(text)`` (or as the text itself when convert is None).
_CONVERTING = frozenset({Text, SelectOne, SelectMany, *_BY_TYPE.values()})


def _field_for(f: Field) -> fields.Field:
    # A required answer must be present unless relevance could have removed it on the phone.
    must = f.required and not f.conditional and not f.calculate
    options: dict[str, Any] = {"required": must, "allow_none": not must}
    if must:
        options["error_messages"] = {"required": "This answer is required.", "null": "This answer is required."}
    if f.type == "select1":
        return SelectOne(f.choices, **options)
    if f.type in {"select", "odk:rank"}:
        return SelectMany(f.choices, ranked=f.type == "odk:rank", **options)
    return _BY_TYPE.get(f.type, Text)(**options)


def build_schema(form: FormDef) -> type[Schema]:
    """A Schema class for one form version; repeats become lists of nested schemas."""

    def scope_schema(scope: str | None, name: str) -> type[Schema]:
        declared: dict[str, fields.Field] = {f.key: _field_for(f) for f in form.fields if f.repeat == scope}
        for repeat in form.repeats:
            parent = next((r for r in reversed(form.repeats) if repeat.startswith(r + "/")), None)
            if parent == scope:
                key = form.repeat_key(repeat)
                nested = scope_schema(repeat, f"{name}_{key}")
                declared[key] = fields.List(fields.Nested(nested), load_default=list)
        schema = Schema.from_dict(declared, name=name)
        schema.Meta.unknown = EXCLUDE  # extraction only produces declared keys; unknown elements are reported apart
        return schema

    return scope_schema(None, f"Submission_{form.form_id}_{form.version}")


def schema_for(form: FormDef) -> Schema:
    """One schema instance per form version, built on first use and kept on the FormDef."""
    schema = form.derived.get("schema")
    if schema is None:
        schema = form.derived["schema"] = build_schema(form)()
    return schema


# --------------------------------------------------------------------------- the fast path

def load(form: FormDef, data: Mapping) -> dict:
    """``schema_for(form).load(data)``, with the same result and the same errors, several times faster.

    A plan compiled once from the schema's own fields walks the record and calls each field's own converter on its
    text answer, skipping marshmallow's per-field machinery. At the first answer a converter refuses, or anything
    the plan does not expect (a value that is not text, a missing required answer, an unknown key, a field class of
    another kind), it stops and marshmallow loads the whole record, so every error and message is marshmallow's own.
    """
    plan = form.derived.get("fast_plan")
    if plan is None:
        plan = form.derived["fast_plan"] = _plan(schema_for(form))
    try:
        return _run(plan, data)
    except Exception:  # noqa: BLE001 - a refused answer or anything unusual: let marshmallow decide and word it
        return schema_for(form).load(data)


class _Unexpected(Exception):
    """The record is not shaped as the plan handles (the answers themselves are the converters' business)."""


_ABSENT = object()


def _leave_to_marshmallow(_value: Any) -> Any:
    raise _Unexpected


class _Plan:
    """One scope (the submission or a repeat): (key, convert, must, nested plan) per declared field."""

    def __init__(self, schema: Schema):
        self.entries: list[tuple[str, Callable[[str], Any] | None, bool, _Plan | None]] = []
        for name, field_ in schema.load_fields.items():
            key = field_.data_key or name
            if key != name or field_.validators or field_.pre_load or field_.post_load:
                raise ValueError("not a plain field")  # never built by build_schema: no fast path at all
            if type(field_) is fields.List and type(field_.inner) is fields.Nested \
                    and field_.load_default is list and not field_.required:
                self.entries.append((key, None, False, _Plan(field_.inner.schema)))
                continue
            must = bool(field_.required)
            if must == bool(field_.allow_none):
                raise ValueError("blank answers would not load as this plan assumes")
            # Exact classes only: a subclass may deserialize differently, so its answers go to marshmallow.
            convert = field_.convert if type(field_) in _CONVERTING else _leave_to_marshmallow
            self.entries.append((key, convert, must, None))
        self.keys = frozenset(e[0] for e in self.entries)


def _plan(schema: Schema) -> _Plan | None:
    try:
        return _Plan(schema)
    except ValueError:
        return None


def _run(plan: _Plan | None, data: Any) -> dict:
    if plan is None or type(data) is not dict or not plan.keys.issuperset(data):
        raise _Unexpected
    out = {}
    for key, convert, must, nested in plan.entries:
        value = data.get(key, _ABSENT)
        if nested is not None:
            if value is _ABSENT:
                out[key] = []
            elif type(value) is list:
                out[key] = [_run(nested, row) for row in value]
            else:
                raise _Unexpected
        elif value is _ABSENT:
            if must:
                raise _Unexpected
        elif value == "" or value is None:
            if must:
                raise _Unexpected
            out[key] = None
        elif type(value) is not str:
            raise _Unexpected
        else:
            out[key] = value if convert is None else convert(value)
    return out


def check_list_values(record: Mapping, form: FormDef,
                      missing: Callable[[str, str, set[str]], set[str] | None]) -> dict:
    """Errors for answers not found in the server-managed CSV list they were chosen from.

    ``missing(list_file, column, values)`` returns the values the list has never held (lists
    only grow, so a phone with a slightly older copy is never refused), or None when the file
    is not a list the server manages and nothing can be checked.
    """
    errors: dict = {}
    listed = form.derived.get("list_fields")
    if listed is None:
        listed = form.derived["list_fields"] = [f for f in form.fields if f.choice_list]
    for f in listed:
        answers = []
        for path, value in _answers(record, form, f):
            if value not in (None, ""):
                answers.append((path, value.split() if f.type == "select" else [value]))
        if not answers:
            continue
        unknown = missing(f.choice_list, f.choice_column, {v for _, picked in answers for v in picked})
        if not unknown:
            continue
        for path, picked in answers:
            bad = [p for p in picked if p in unknown]
            if bad:
                _put(errors, path, f"{' '.join(bad)!r} is not in the list {f.choice_list}.")
    return errors


def _answers(record: Mapping, form: FormDef, f: Field):
    """Yield (error path, value) for every occurrence of field f in the record."""
    chain = [r for r in form.repeats if f.repeat and (f.repeat == r or f.repeat.startswith(r + "/"))]

    def descend(node: Mapping, depth: int, path: list):
        if depth == len(chain):
            yield path + [f.key], node.get(f.key)
            return
        key = form.repeat_key(chain[depth])
        for i, row in enumerate(node.get(key) or []):
            yield from descend(row, depth + 1, path + [key, i])

    yield from descend(record, 0, [])


def _put(errors: dict, path: list, message: str) -> None:
    node = errors
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node.setdefault(path[-1], []).append(message)
