"""Marshmallow schemas built from a published XForm's binds: types, required, choices, repeats.

A schema loads the string answers of one submission (xforms.extract) into typed Python
values, or raises ValidationError whose messages name each offending field. Answers
drawn from server-managed CSV lists are checked separately (check_list_values), because
those lists change while the schema stays the same.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate


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

_NAME_UNSAFE = re.compile(r"[/\\\x00-\x1f]")


class _Blank(fields.Field):
    """Base: the empty string is how XForms say 'no answer'; it loads as None."""

    def deserialize(self, value: Any, attr: str | None = None, data: Mapping | None = None, **kwargs: Any) -> Any:
        if value == "":
            value = None
        return super().deserialize(value, attr, data, **kwargs)


class Text(_Blank, fields.String):
    pass


_INT_MIN, _INT_MAX = -2**63, 2**63 - 1      # what SQLite stores as an INTEGER (JavaRosa's int is 32-bit)


class Integer(_Blank, fields.Integer):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str) and not re.fullmatch(r"\s*[-+]?\d+\s*", value):
            raise ValidationError(f"Not a whole number: {value!r}.")
        number = super()._deserialize(value, attr, data, **kwargs)
        if not _INT_MIN <= number <= _INT_MAX:
            raise ValidationError(f"Whole number out of range: {value!r}.")
        return number


class Decimal(_Blank, fields.Float):
    default_error_messages = {"invalid": "Not a number: {input!r}."}

    def __init__(self, **kwargs: Any):
        super().__init__(allow_nan=False, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        result = super()._deserialize(value, attr, data, **kwargs)
        if math.isinf(result):
            raise ValidationError("Not a finite number.")
        return result


class Date(_Blank, fields.Date):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.date:
        text = str(value).strip()
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValidationError(f"Not a date (YYYY-MM-DD): {value!r}.")
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"Not a valid date: {value!r}.") from None


class DateTime(_Blank, fields.String):
    """JavaRosa writes 2026-11-22T05:31:56.172+05:30 (or Z); kept as given, checked as ISO 8601."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"Not a valid date and time: {text!r}.") from None
        return text


class Time(_Blank, fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            dt.time.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"Not a valid time: {text!r}.") from None
        return text


def _check_point(text: str) -> None:
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


class GeoPoint(_Blank, fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        _check_point(text)
        return text


class GeoTrace(_Blank, fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        for point in filter(None, (p.strip() for p in text.split(";"))):
            _check_point(point)
        return text


class SelectOne(Text):
    def __init__(self, choices: Iterable[str] | None, **kwargs: Any):
        super().__init__(**kwargs)
        self.choice_set = frozenset(choices) if choices is not None else None

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if self.choice_set is not None and text not in self.choice_set:
            raise ValidationError(f"{text!r} is not one of the choices.")
        return text


class SelectMany(Text):
    """Space-separated choice names (select_multiple and rank); kept as the submitted string."""

    def __init__(self, choices: Iterable[str] | None, ranked: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.choice_set = frozenset(choices) if choices is not None else None
        self.ranked = ranked

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        picked = text.split()
        if self.choice_set is not None:
            bad = [p for p in picked if p not in self.choice_set]
            if bad:
                raise ValidationError(f"{' '.join(bad)!r} not among the choices.")
        if self.ranked and len(set(picked)) != len(picked):
            raise ValidationError("A ranked item appears twice.")
        return " ".join(picked)


class FileName(Text):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if _NAME_UNSAFE.search(text) or text in {".", ".."}:
            raise ValidationError(f"{text!r} is not a plain file name.")
        return text


_BY_TYPE: dict[str, Callable[..., fields.Field]] = {
    "int": Integer, "integer": Integer, "decimal": Decimal, "date": Date, "dateTime": DateTime, "time": Time,
    "geopoint": GeoPoint, "geotrace": GeoTrace, "geoshape": GeoTrace, "binary": FileName,
}


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

    A plan compiled once from the schema's own fields converts answers that are valid with plain
    Python calls. At the first answer it cannot vouch for (any problem, or an unexpected shape) it gives
    up and marshmallow loads the whole record, so every error and message is marshmallow's own.
    """
    plan = form.derived.get("fast_plan")
    if plan is None:
        plan = form.derived["fast_plan"] = _plan(schema_for(form))
    try:
        return _run(plan, data)
    except Exception:  # noqa: BLE001 - anything unusual: let marshmallow decide and word it
        return schema_for(form).load(data)


class _GiveUp(Exception):
    pass


_ABSENT = object()
_INT_TEXT = re.compile(r"\s*[-+]?\d+\s*")
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


def _give_up(_value: Any = None) -> Any:
    raise _GiveUp


def _fast_integer(value: str) -> int:
    if not _INT_TEXT.fullmatch(value):
        raise _GiveUp
    number = int(value)
    if not _INT_MIN <= number <= _INT_MAX:
        raise _GiveUp
    return number


def _fast_decimal(value: str) -> float:
    number = float(value)
    if number != number or number in (math.inf, -math.inf):
        raise _GiveUp
    return number


def _fast_date(value: str) -> dt.date:
    text = value.strip()
    if not _DATE_TEXT.fullmatch(text):
        raise _GiveUp
    return dt.date.fromisoformat(text)


def _fast_datetime(value: str) -> str:
    dt.datetime.fromisoformat(value)
    return value


def _fast_time(value: str) -> str:
    dt.time.fromisoformat(value)
    return value


def _fast_geopoint(value: str) -> str:
    _check_point(value)
    return value


def _fast_geotrace(value: str) -> str:
    for point in filter(None, (p.strip() for p in value.split(";"))):
        _check_point(point)
    return value


def _fast_file_name(value: str) -> str:
    if _NAME_UNSAFE.search(value) or value in {".", ".."}:
        raise _GiveUp
    return value


def _fast_select_one(choices: frozenset[str] | None) -> Callable[[str], str] | None:
    if choices is None:
        return None

    def convert(value: str) -> str:
        if value not in choices:
            raise _GiveUp
        return value
    return convert


def _fast_select_many(choices: frozenset[str] | None, ranked: bool) -> Callable[[str], str]:
    def convert(value: str) -> str:
        picked = value.split()
        if choices is not None and not choices.issuperset(picked):
            raise _GiveUp
        if ranked and len(set(picked)) != len(picked):
            raise _GiveUp
        return " ".join(picked)
    return convert


# Exact field classes only: a subclass may behave differently and is left to marshmallow.
_FAST: dict[type, Callable[[fields.Field], Callable[[str], Any] | None]] = {
    Text: lambda f: None, Integer: lambda f: _fast_integer, Decimal: lambda f: _fast_decimal,
    Date: lambda f: _fast_date, DateTime: lambda f: _fast_datetime, Time: lambda f: _fast_time,
    GeoPoint: lambda f: _fast_geopoint, GeoTrace: lambda f: _fast_geotrace, FileName: lambda f: _fast_file_name,
    SelectOne: lambda f: _fast_select_one(f.choice_set),
    SelectMany: lambda f: _fast_select_many(f.choice_set, f.ranked),
}


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
            maker = _FAST.get(type(field_))
            convert = _give_up if maker is None else maker(field_)  # an unknown field: marshmallow takes it
            self.entries.append((key, convert, must, None))
        self.keys = frozenset(e[0] for e in self.entries)


def _plan(schema: Schema) -> _Plan | None:
    try:
        return _Plan(schema)
    except ValueError:
        return None


def _run(plan: _Plan | None, data: Any) -> dict:
    if plan is None or type(data) is not dict or not plan.keys.issuperset(data):
        raise _GiveUp
    out = {}
    for key, convert, must, nested in plan.entries:
        value = data.get(key, _ABSENT)
        if nested is not None:
            if value is _ABSENT:
                out[key] = []
            elif type(value) is list:
                out[key] = [_run(nested, row) for row in value]
            else:
                raise _GiveUp
        elif value is _ABSENT:
            if must:
                raise _GiveUp
        elif value == "" or value is None:
            if must:
                raise _GiveUp
            out[key] = None
        elif type(value) is not str:
            raise _GiveUp
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
