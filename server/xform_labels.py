"""Labels an export needs that the FormDef does not keep: question labels with their <output>s, and the
label of every choice. Pure XML work on a published (trusted) XForm; no Flask, no database.

Choices come from three places in an XForm:
- inline <item>s of a select (label inline or jr:itext('id'));
- an <itemset> over a secondary instance in the form (label ref 'label', or jr:itext(itextId));
- an <itemset> over a CSV attachment (select_one_from_file): here the labels live in the server-managed
  list of that name, looked up by the caller (ChoiceSource.list_name).
Choice labels have their ${...} references removed (plain_label): an export writes one label per choice.
Text is taken from the itext translation asked for (`lang`: 'hi', 'Hindi' or 'Hindi (hi)'), else from the
default translation (or the first one); a text missing in the chosen language falls back to the default's. An
<output value="/data/x/y"/> inside a label is written as ${y}, as in the XLSForm (plain_label() removes these
references where no answer can fill them, as in column headers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from lxml import etree

XF = "http://www.w3.org/2002/xforms"
H = "http://www.w3.org/1999/xhtml"
_INSTANCE_CALL = re.compile(r"instance\(\s*['\"]([^'\"]+)['\"]\s*\)")
_ITEXT_LITERAL = re.compile(r"jr:itext\(\s*'([^']+)'\s*\)")
_ITEXT_PATH = re.compile(r"jr:itext\(\s*([^'\")\s]+)\s*\)")
_CSV_SRC = re.compile(r"jr://file-csv/([^\s\"'<>]+)")
_SELECTS = {"select1", "select", "rank"}
_REFERENCE = re.compile(r"\$\{[^}]*\}")
_LANG_CODE = re.compile(r"\(([^()]+)\)\s*$")


@dataclass(frozen=True)
class ChoiceSource:
    """Where a select's choice labels come from."""

    labels: Mapping[str, str] = field(default_factory=dict)   # value -> label (static choices)
    list_name: str | None = None                              # a server-managed CSV list, e.g. clusters.csv
    value_column: str = "name"
    label_column: str = "label"
    multiple: bool = False                                    # select_multiple / rank: space-separated values


@dataclass(frozen=True)
class FormLabels:
    questions: Mapping[str, str]          # field path -> question label
    choices: Mapping[str, ChoiceSource]   # field path -> its choices
    language: str | None = None           # the translation the labels come from (None: the form has none)
    languages: tuple[str, ...] = ()       # every translation of the form, e.g. ('English (en)', 'Hindi (hi)')
    found: bool = True                    # False when the language asked for is not among them


def plain_label(text: str) -> str:
    """A label with its ${...} references removed and the spaces and punctuation around them tidied."""
    if "${" not in text:
        return text
    text = " ".join(_REFERENCE.sub(" ", text).split())
    return re.sub(r"\s+([,.;:?!।)])", r"\1", re.sub(r"\(\s*\)", "", text)).strip(" ,;:-")


def language_matches(translation: str, wanted: str) -> bool:
    """'Hindi (hi)' is asked for as 'Hindi (hi)', 'Hindi' or 'hi' (case does not matter)."""
    wanted = wanted.strip().casefold()
    code = _LANG_CODE.search(translation)
    name = _LANG_CODE.sub("", translation).strip()
    return wanted in {translation.strip().casefold(), name.casefold(), code.group(1).strip().casefold() if code
                      else None}


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _text(el: etree._Element | None) -> str:
    """Element text with <output value="…/name"/> written as ${name}, whitespace collapsed."""
    if el is None:
        return ""
    parts = [el.text or ""]
    for child in el:
        if _local(child.tag) == "output":
            ref = (child.get("value") or "").strip().rstrip("/")
            name = ref.rsplit("/", 1)[-1].strip() if ref else ""
            parts.append("${" + name + "}" if name else "")
        elif isinstance(child.tag, str):
            parts.append(_text(child))
        parts.append(child.tail or "")
    return " ".join("".join(parts).split())


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _translation(model: etree._Element, lang: str | None
                 ) -> tuple[etree._Element | None, etree._Element | None, list[str], bool]:
    """The translation asked for (None when absent), the default one (or the first), every translation's name, and
    whether the one asked for was found."""
    translations = list(model.iter(f"{{{XF}}}translation"))
    names = [t.get("lang") or "" for t in translations]
    wanted = next((t for t in translations if lang and language_matches(t.get("lang") or "", lang)), None)
    default = next((t for t in translations if t.get("default") is not None), translations[0] if translations else None)
    return wanted, default, names, wanted is not None or not lang


def _itext(default: etree._Element | None, chosen: etree._Element | None) -> dict[str, str]:
    """Every text of the default translation, overlaid with the chosen translation's texts that are not empty."""
    out = _texts(default) if default is not None else {}
    if chosen is not None and chosen is not default:
        out.update({k: v for k, v in _texts(chosen).items() if v})
    return out


def _texts(translation: etree._Element) -> dict[str, str]:
    out: dict[str, str] = {}
    for text in translation.iter(f"{{{XF}}}text"):
        values = text.findall(f"{{{XF}}}value")
        value = next((v for v in values if v.get("form") in (None, "long")), None)
        if value is None and values and all(v.get("form") == "short" for v in values):
            value = values[0]
        if value is not None:
            out[text.get("id")] = _text(value)
    return out


def _label(el: etree._Element, itext: Mapping[str, str]) -> str:
    label = el.find(f"{{{XF}}}label")
    if label is None:
        return ""
    match = _ITEXT_LITERAL.search(label.get("ref") or "")
    return itext.get(match.group(1), "") if match else _text(label)


def read_labels(xml: bytes, lang: str | None = None) -> FormLabels:
    """Question and choice labels of an XForm, by field path, in the language asked for when the form has it
    (else in its default language: FormLabels.found is then False)."""
    root = etree.fromstring(xml, _parser())
    head, body = root.find(f"{{{H}}}head"), root.find(f"{{{H}}}body")
    if head is None or body is None:
        return FormLabels({}, {}, found=not lang)
    model = head.find(f"{{{XF}}}model")
    wanted, default, names, found = _translation(model, lang) if model is not None else (None, None, [], not lang)
    itext = _itext(default, wanted)
    chosen = wanted if wanted is not None else default
    secondary = {inst.get("id"): inst for inst in (model.findall(f"{{{XF}}}instance") if model is not None else [])
                 if inst.get("id")}
    questions: dict[str, str] = {}
    choices: dict[str, ChoiceSource] = {}
    for el in body.iter():
        if not isinstance(el.tag, str) or not el.get("ref"):
            continue
        ref, kind = el.get("ref"), _local(el.tag)
        if kind in {"group", "repeat"}:
            continue
        label = _label(el, itext)
        if label:
            questions.setdefault(ref, label)
        if kind in _SELECTS:
            source = _choices(el, kind != "select1", itext, secondary)
            if source is not None:
                choices[ref] = source
    return FormLabels(questions, choices, chosen.get("lang") if chosen is not None else None, tuple(names),
                      found and (chosen is not None or not lang))


def _choices(ctrl: etree._Element, multiple: bool, itext: Mapping[str, str],
             secondary: Mapping[str, etree._Element]) -> ChoiceSource | None:
    items = [i for i in ctrl if _local(i.tag) == "item"]
    if items:
        return ChoiceSource(labels={(i.findtext(f"{{{XF}}}value") or "").strip(): plain_label(_label(i, itext))
                                    for i in items}, multiple=multiple)
    itemset = next((i for i in ctrl if _local(i.tag) == "itemset"), None)
    if itemset is None:
        return None
    match = _INSTANCE_CALL.search(itemset.get("nodeset") or "")
    if not match or match.group(1) not in secondary:
        return None  # choices from a repeat of the same submission: values are their own labels
    value_el, label_el = itemset.find(f"{{{XF}}}value"), itemset.find(f"{{{XF}}}label")
    value_column = (value_el.get("ref") if value_el is not None else None) or "name"
    label_ref = (label_el.get("ref") if label_el is not None else None) or "label"
    instance = secondary[match.group(1)]
    src = instance.get("src")
    if src:
        csv_match = _CSV_SRC.search(src)
        if not csv_match or label_ref.startswith("jr:itext"):
            return None
        return ChoiceSource(list_name=csv_match.group(1), value_column=value_column, label_column=label_ref,
                            multiple=multiple)
    itext_path = _ITEXT_PATH.search(label_ref)
    labels: dict[str, str] = {}
    for item in instance.iter():
        if _local(item.tag) != "item":
            continue
        values = {_local(c.tag): c for c in item if isinstance(c.tag, str)}
        value = (values[value_column].text or "").strip() if value_column in values else ""
        if not value:
            continue
        if itext_path:
            key_el = values.get(itext_path.group(1))
            labels[value] = itext.get((key_el.text or "").strip(), "") if key_el is not None else ""
        else:
            labels[value] = _text(values.get(label_ref))
    return ChoiceSource(labels={value: plain_label(text) for value, text in labels.items()}, multiple=multiple)
