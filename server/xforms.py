"""Pure XML work: read an XForm's fields, and read submissions safely. No Flask, no database.

Untrusted XML goes through one lxml parser with entities, DTDs and the network off;
a DOCTYPE is refused before parsing, so entity-expansion bombs never reach libxml2.
Elements are matched by local name, ignoring prefixes, as Collect and Central do.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from typing import Iterator

from lxml import etree

from . import errors
from .media_types import question_kind

XF = "http://www.w3.org/2002/xforms"
H = "http://www.w3.org/1999/xhtml"
JR = "http://openrosa.org/javarosa"
ODK = "http://www.opendatakit.org/xforms"

# Where a jr:// URL points at a file the device must download with the form (docs/protocol.md 2.3).
_JR_FILE = re.compile(r"jr://(?:images|audio|video|file|file-csv)/([^\s\"'<>]+)")
_INSTANCE_CALL = re.compile(r"instance\(\s*['\"]([^'\"]+)['\"]\s*\)")
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def md5_hash(data: bytes) -> str:
    """The hash string Collect compares: 'md5:' + lower-case hex (docs/protocol.md 1.3)."""
    return "md5:" + hashlib.md5(data).hexdigest()


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_blank_text=False, collect_ids=False)


_PER_THREAD = threading.local()   # lxml parsers and XPath objects are not to be shared between threads


def _thread_parser() -> etree.XMLParser:
    parser = getattr(_PER_THREAD, "parser", None)
    if parser is None:
        parser = _PER_THREAD.parser = _parser()
    return parser


def parse_untrusted(data: bytes, max_depth: int = 64) -> etree._Element:
    """Parse bytes that came from outside; raise a Problem on anything malformed or hostile."""
    if _DOCTYPE.search(data):
        raise errors.hostile_xml()
    try:
        root = etree.fromstring(data, _thread_parser())
    except etree.XMLSyntaxError as exc:
        raise errors.unparseable_xml(_short(str(exc))) from None
    except ValueError as exc:  # e.g. a str with an encoding declaration
        raise errors.unparseable_xml(_short(str(exc))) from None
    if root is None:
        raise errors.unparseable_xml("empty document")
    if _too_deep(root, max_depth):
        raise errors.xml_too_deep(max_depth)
    return root


def _short(text: str) -> str:
    return text.splitlines()[0][:200] if text else "malformed XML"


def _too_deep(root: etree._Element, limit: int) -> bool:
    """True when any element sits deeper than `limit` levels (the root is level 1); the walk runs in C."""
    cache = getattr(_PER_THREAD, "depth", None)
    if cache is None:
        cache = _PER_THREAD.depth = {}
    check = cache.get(limit)
    if check is None:
        check = cache[limit] = etree.XPath("boolean(" + "/*" * (limit + 1) + ")")
    return bool(check(root))


def local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def children(node: etree._Element) -> Iterator[etree._Element]:
    return (child for child in node if isinstance(child.tag, str))


# --------------------------------------------------------------------------- form definitions

@dataclass
class Field:
    """One question (or calculate) of a form, as the server sees it."""

    path: str                       # /data/hh/member/m_age
    name: str                       # m_age
    key: str                        # unique key within its repeat scope (usually = name)
    type: str                       # string, int, decimal, date, dateTime, time, geopoint, select1, select, ...
    repeat: str | None              # path of the innermost repeat holding it
    required: bool = False          # required="true()"
    conditional: bool = False       # relevance on itself or an ancestor: may legitimately be absent
    choices: frozenset[str] | None = None   # static choice values
    choice_list: str | None = None  # CSV attachment a select_one_from_file draws from (e.g. households.csv)
    choice_column: str = "name"
    calculate: bool = False
    label: str = ""
    constraint: str | None = None
    media: str = ""                 # binary questions: image, audio, video or file (media_types.question_kind)


@dataclass
class FormDef:
    """What the server needs to know of one published XForm version."""

    form_id: str
    version: str
    title: str
    root_name: str
    fields: list[Field]
    repeats: list[str]              # repeat paths, outermost first
    media: list[str]                # attachment file names the form expects
    encrypted: bool = False
    by_path: dict[str, Field] = field(default_factory=dict)
    groups: frozenset[str] = frozenset()   # paths of every element that holds fields (groups and repeats)
    derived: dict = field(default_factory=dict, repr=False, compare=False)  # per-version caches (schema, layout)

    def __post_init__(self) -> None:
        self.by_path = {f.path: f for f in self.fields}
        self.groups = frozenset(f.path.rsplit("/", i)[0] for f in self.fields
                                for i in range(1, f.path.count("/")))

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def repeat_key(self, path: str) -> str:
        return path.rsplit("/", 1)[-1]


def parse_xform(xml: bytes) -> FormDef:
    """Read a (trusted, published) XForm into a FormDef."""
    root = etree.fromstring(xml, _parser())
    head = root.find(f"{{{H}}}head")
    body = root.find(f"{{{H}}}body")
    if head is None or body is None:
        raise ValueError("not an XForm: no h:head or h:body")
    title = (head.findtext(f"{{{H}}}title") or "").strip()
    model = head.find(f"{{{XF}}}model")
    instances = model.findall(f"{{{XF}}}instance")
    primary = next(children(instances[0]))
    form_id, version = primary.get("id"), primary.get("version") or ""
    if not form_id:
        raise ValueError("the primary instance has no id attribute")
    secondary = {inst.get("id"): inst for inst in instances[1:] if inst.get("id")}
    binds = {b.get("nodeset"): b for b in model.iter(f"{{{XF}}}bind")}
    submission = model.find(f"{{{XF}}}submission")
    encrypted = submission is not None and bool(submission.get("base64RsaPublicKey"))
    repeats = [r.get("nodeset") for r in body.iter(f"{{{XF}}}repeat")]
    controls = _controls(body)
    labels = _labels(model, body)

    fields: list[Field] = []
    for path, element, ancestors in _leaves(primary, "/" + local(primary.tag)):
        bind = binds.get(path)
        repeat = next((p for p in reversed(ancestors) if p in repeats), None)
        conditional = any(binds.get(p) is not None and binds[p].get("relevant") for p in ancestors + [path])
        ftype = (bind.get("type") if bind is not None else None) or "string"
        ctrl = controls.get(path)
        required = bind is not None and (bind.get("required") or "").replace(" ", "") == "true()"
        f = Field(path=path, name=local(element.tag), key="", type=ftype, repeat=repeat, required=required,
                  conditional=conditional or (bind is not None and bind.get("required") not in (None, "true()",
                                                                                                 "false()")),
                  calculate=bind is not None and bind.get("calculate") is not None,
                  label=labels.get(path, ""), constraint=bind.get("constraint") if bind is not None else None)
        if ctrl is not None:
            f.type = {"select1": "select1", "select": "select", "rank": "odk:rank"}.get(local(ctrl.tag), f.type)
            _attach_choices(f, ctrl, secondary)
        if f.type == "binary":
            f.media = question_kind(ctrl.get("mediatype") if ctrl is not None else None)
        fields.append(f)
    _assign_keys(fields)
    media = _expected_media(model, body)
    return FormDef(form_id=form_id, version=version, title=title or form_id, root_name=local(primary.tag),
                   fields=fields, repeats=repeats, media=media, encrypted=encrypted)


def _leaves(node: etree._Element, path: str, ancestors: list[str] | None = None):
    ancestors = ancestors or []
    kids = list(children(node))
    if not kids:
        if ancestors:  # the root itself is never a field
            yield path, node, ancestors
        return
    seen: set[str] = set()
    for child in kids:
        child_path = f"{path}/{local(child.tag)}"
        if child_path in seen:  # a repeat template followed by instances: read the structure once
            continue
        seen.add(child_path)
        yield from _leaves(child, child_path, ancestors + [path])


def _controls(body: etree._Element) -> dict[str, etree._Element]:
    out = {}
    for el in body.iter():
        if isinstance(el.tag, str) and el.get("ref") and local(el.tag) in {"input", "select1", "select", "rank",
                                                                           "upload", "trigger", "range"}:
            out[el.get("ref")] = el
    return out


def _labels(model: etree._Element, body: etree._Element) -> dict[str, str]:
    """Question labels in the default language, from itext or inline <label>."""
    itext: dict[str, str] = {}
    for translation in model.iter(f"{{{XF}}}translation"):
        if itext and translation.get("default") is None:
            continue
        for text in translation.iter(f"{{{XF}}}text"):
            value = text.find(f"{{{XF}}}value")
            if value is not None and value.get("form") in (None, "long"):
                itext.setdefault(text.get("id"), "".join(value.itertext()).strip())
    out = {}
    for el in body.iter():
        if not isinstance(el.tag, str) or not el.get("ref"):
            continue
        label = el.find(f"{{{XF}}}label")
        if label is None:
            continue
        ref = label.get("ref") or ""
        match = re.search(r"jr:itext\('([^']+)'\)", ref)
        text = itext.get(match.group(1), "") if match else " ".join("".join(label.itertext()).split())
        out[el.get("ref")] = text
    return out


def _attach_choices(f: Field, ctrl: etree._Element, secondary: dict[str, etree._Element]) -> None:
    items = [i for i in ctrl if local(i.tag) == "item"]
    if items:
        f.choices = frozenset((i.findtext(f"{{{XF}}}value") or "").strip() for i in items)
        return
    itemset = next((i for i in ctrl if local(i.tag) == "itemset"), None)
    if itemset is None:
        return
    match = _INSTANCE_CALL.search(itemset.get("nodeset") or "")
    if not match:
        return  # choices drawn from a repeat in the same submission: checked by type only
    value = itemset.find(f"{{{XF}}}value")
    column = value.get("ref") if value is not None else "name"
    instance = secondary.get(match.group(1))
    if instance is None:
        return
    src = instance.get("src")
    if src:
        file_match = _JR_FILE.search(src)
        f.choice_list, f.choice_column = (file_match.group(1) if file_match else None), column
        return
    values = {(item.findtext(column) or "").strip() for item in instance.iter("item")}
    values |= {(item.findtext(f"{{{XF}}}{column}") or "").strip() for item in instance.iter(f"{{{XF}}}item")}
    f.choices = frozenset(v for v in values if v)


def _assign_keys(fields: list[Field]) -> None:
    """Key = field name, unless two fields in one repeat scope share a name; then the relative path."""
    scopes: dict[str | None, dict[str, int]] = {}
    for f in fields:
        scopes.setdefault(f.repeat, {}).setdefault(f.name, 0)
        scopes[f.repeat][f.name] += 1
    for f in fields:
        if scopes[f.repeat][f.name] == 1:
            f.key = f.name
        else:
            base = f.repeat or "/" + f.path.split("/")[1]
            f.key = f.path[len(base) + 1:].replace("/", "__")


def _expected_media(model: etree._Element, body: etree._Element) -> list[str]:
    names: list[str] = []
    for inst in model.findall(f"{{{XF}}}instance"):
        match = _JR_FILE.search(inst.get("src") or "")
        if match:
            names.append(match.group(1))
    for value in model.iter(f"{{{XF}}}value"):
        if value.get("form") in {"image", "big-image", "audio", "video"}:
            match = _JR_FILE.search(value.text or "")
            if match:
                names.append(match.group(1))
    if any(el.get("query") for el in body.iter(f"{{{XF}}}input")):
        names.append("itemsets.csv")
    for el in body.iter():
        if isinstance(el.tag, str):
            match = re.search(r"search\(\s*'([^']+)'", el.get("appearance") or "")
            if match:
                names.append(match.group(1) + ".csv")
    return sorted(set(names))


# --------------------------------------------------------------------------- submissions

@dataclass
class ParsedSubmission:
    """What the server reads from a submission before it knows the form."""

    root: etree._Element
    form_id: str
    version: str
    instance_id: str
    deprecated_id: str | None
    instance_name: str | None
    encrypted: bool
    envelope_files: list[str]


def parse_submission(data: bytes, max_depth: int = 32) -> ParsedSubmission:
    """Read the identifying metadata of a submission (plain or encrypted envelope)."""
    root = parse_untrusted(data, max_depth)
    form_id = (root.get("id") or "").strip()
    if not form_id:
        raise errors.missing_form_id()
    at_root = _first_by_name(root)
    meta = at_root.get("meta")
    scopes = ([_first_by_name(meta)] if meta is not None else []) + [at_root]

    def meta_text(name: str) -> str | None:
        for scope in scopes:
            el = scope.get(name)
            if el is not None and (el.text or "").strip():
                return el.text.strip()
        return None

    instance_id = meta_text("instanceID")
    encrypted = (root.get("encrypted") or "").lower() == "yes"
    files: list[str] = []
    if encrypted:
        for media in (c for c in children(root) if local(c.tag) == "media"):
            files += [(f.text or "").strip() for f in children(media) if local(f.tag) == "file"]
        xml_file = next((c for c in children(root) if local(c.tag) == "encryptedXmlFile"), None)
        if xml_file is None or not (xml_file.text or "").strip():
            raise errors.unparseable_xml("encrypted envelope without encryptedXmlFile")
        files.append(xml_file.text.strip())
        if not instance_id:
            raise errors.unparseable_xml("encrypted envelope without meta/instanceID")
    if not instance_id:
        raise errors.unparseable_xml("no meta/instanceID")
    if len(instance_id) > 249:
        raise errors.unparseable_xml("meta/instanceID longer than 249 characters")
    return ParsedSubmission(root=root, form_id=form_id, version=(root.get("version") or "").strip(),
                            instance_id=instance_id, deprecated_id=meta_text("deprecatedID"),
                            instance_name=meta_text("instanceName"), encrypted=encrypted,
                            envelope_files=[f for f in files if f])


def _first_by_name(node: etree._Element) -> dict[str, etree._Element]:
    """The first child element of each local name (one pass: a submission's root holds every group)."""
    found: dict[str, etree._Element] = {}
    for child in node:
        tag = child.tag
        if tag.__class__ is str:
            found.setdefault(tag.rpartition("}")[2], child)
    return found


@dataclass
class Extracted:
    """A submission's answers, keyed by field key, with repeats as lists of dicts."""

    record: dict
    unknown: list[str]
    binaries: dict[str, str]        # file name -> the kind of question that named it (image, audio, video, file)


def extract(root: etree._Element, form: FormDef) -> Extracted:
    """Walk the submission by the form's structure: answers as strings, repeats as lists."""
    unknown: list[str] = []
    binaries: dict[str, str] = {}
    steps = form.derived.get("extract_steps")
    if steps is None:
        steps = form.derived["extract_steps"] = {}

    def walk(node: etree._Element, path: str, record: dict) -> None:
        known = steps.get(path)
        if known is None:
            known = {}
            if len(steps) < 1024:  # paths are the form's own groups, plus whatever root a stranger sends
                steps[path] = known
        for child in node:
            tag = child.tag
            if tag.__class__ is not str:
                continue  # comments and processing instructions
            name = tag.rpartition("}")[2] if tag[:1] == "{" else tag
            step = known.get(name)
            if step is None:
                step = _step(form, path, name, root_path)
                if step[0] != _UNKNOWN and len(known) < 4096:
                    known[name] = step  # only names the form knows are kept: garbage cannot grow the cache
            kind, child_path, key, media = step
            if kind == _FIELD:
                text = child.text
                value = text.strip() if text else ""
                record[key] = value
                if media and value:  # one name under two kinds of question is only a file
                    binaries[value] = media if binaries.get(value, media) == media else "file"
            elif kind == _REPEAT:
                row: dict = {}
                rows = record.get(key)
                if rows is None:
                    record[key] = rows = []
                rows.append(row)
                walk(child, child_path, row)
            elif kind == _GROUP:
                walk(child, child_path, record)
            elif kind == _UNKNOWN:
                unknown.append(child_path)

    record: dict = {}
    root_name = local(root.tag)
    root_path = "/" + (form.root_name if root_name == form.root_name else root_name)
    walk(root, root_path, record)
    calculated, repeat_keys = form.derived.get("prune_keys") or form.derived.setdefault(
        "prune_keys", ({f.key for f in form.fields if f.calculate}, {form.repeat_key(r) for r in form.repeats}))
    _prune_empty_rows(record, calculated, repeat_keys)
    return Extracted(record=record, unknown=unknown, binaries=binaries)


_FIELD, _REPEAT, _GROUP, _SKIP, _UNKNOWN = range(5)


def _step(form: FormDef, path: str, name: str, root_path: str) -> tuple[int, str, str | None, str]:
    """What an element called `name` under `path` is, by the rules extract() follows, in this order."""
    child_path = f"{path}/{name}"
    if child_path in form.repeats:
        return _REPEAT, child_path, form.repeat_key(child_path), ""
    f = form.by_path.get(child_path)
    if f is not None:
        return _FIELD, child_path, f.key, f.media
    if child_path in form.groups:
        return _GROUP, child_path, None, ""
    if "/meta/" in child_path + "/" or child_path.endswith("/meta"):
        return _SKIP, child_path, None, ""  # Collect adds meta children the form may not declare
    if child_path == root_path + "/instanceID":
        return _SKIP, child_path, None, ""  # a root-level instanceID, which Central accepts in place of meta
    return _UNKNOWN, child_path, None, ""


def _prune_empty_rows(record: dict, calculated: set[str], repeat_keys: set[str]) -> None:
    """Drop repeat instances nobody answered: Collect writes one even when a counted repeat is 0, and keeps
    instances beyond a lowered count (getodk/collect#6945). Their only values are position calculates,
    kept outside the relevance-guarded group, so they are not households, piles or loans."""
    for key in repeat_keys & set(record):
        rows = []
        for row in record[key]:
            _prune_empty_rows(row, calculated, repeat_keys)
            answered = any(v not in ("", None) for k, v in row.items() if k not in calculated and k not in repeat_keys)
            if answered or any(row.get(k) for k in repeat_keys):
                rows.append(row)
        record[key] = rows
