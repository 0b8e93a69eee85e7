"""The questionnaires' languages: which there are, how an XLSForm column or an XForm translation names them,
and the checks a translated workbook must pass (every text in every language, in its script, with the same
${...} references and numbers as the English, and the glossary's terms rendered as the glossary says).

Pure functions over workbook rows; no Flask, no database. Used by scripts/compile_forms --check and the tests.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

# code -> name as written in XLSForm columns, e.g. label::Hindi (hi)
LANGUAGES: dict[str, str] = {"en": "English", "hi": "Hindi", "mr": "Marathi", "or": "Odia"}
DEFAULT_LANGUAGE = "en"
# The one place that says a form is not translated yet (its columns are filled in a later change).
NOT_YET_TRANSLATED: frozenset[str] = frozenset()

TEXT_COLUMNS = ("label", "hint", "required_message", "constraint_message")
# Letters each language's texts are written in; digits, punctuation, symbols and spaces are allowed in all.
SCRIPTS: dict[str, tuple[tuple[int, int], ...]] = {
    "hi": ((0x0900, 0x097F),),
    "mr": ((0x0900, 0x097F),),
    # Odia text uses the danda U+0964/U+0965, which Unicode keeps in the Devanagari block for all Indic scripts.
    "or": ((0x0B00, 0x0B7F), (0x0964, 0x0965)),
}
# Latin words a translation may keep where the English has them: abbreviations, group and section letters and a
# code the enumerator types as shown.
LATIN_ALLOWED = frozenset({"GPS", "PPA", "SHG", "ST", "SC", "OBC", "NTFP", "DIC", "A", "B", "C", "D", "E", "F",
                           "G", "H", "I", "J", "contract_weavers"})
_JOINERS = {"\u200c", "\u200d"}  # ZWNJ / ZWJ shape conjuncts in Indic scripts
_REF = re.compile(r"\$\{[^}]*\}")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_LATIN_WORD = re.compile(r"[A-Za-z_]*[A-Za-z][A-Za-z_]*")
_COLUMN = re.compile(r"^(?P<kind>[a-z_]+)::(?P<name>[^()]+?)\s*\((?P<code>[a-z]{2,3})\)$")


def label_language(user_choice: str | None, project_default: str | None) -> str:
    """The language a page shows labels in: the user's own choice, else the project's default, else English."""
    for code in (user_choice, project_default):
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def checked_language(code: str | None, allow_default: bool) -> str | None:
    """A language code from a form field: a known code, or None for 'the project's default' where allowed."""
    code = (code or "").strip()
    if not code and allow_default:
        return None
    if code not in LANGUAGES:
        raise ValueError("choose one of " + ", ".join(f"{name} ({c})" for c, name in LANGUAGES.items()))
    return code


def column(kind: str, code: str) -> str:
    """XLSForm column for a text kind in a language, e.g. ('label', 'hi') -> 'label::Hindi (hi)'."""
    return f"{kind}::{LANGUAGES[code]} ({code})"


def translation_name(code: str) -> str:
    """The <translation lang="..."> pyxform writes for a language code."""
    return f"{LANGUAGES[code]} ({code})"


def code_of(lang: str) -> str | None:
    """'Hindi (hi)' -> 'hi' (the code in brackets); None when the name carries no known code."""
    match = re.search(r"\(([a-z]{2,3})\)\s*$", lang or "")
    return match.group(1) if match and match.group(1) in LANGUAGES else None


@dataclass(frozen=True)
class Text:
    sheet: str
    row: int        # 1-based row in the sheet
    name: str       # the row's name (question or choice)
    kind: str       # label / hint / required_message / constraint_message
    texts: Mapping[str, str]   # language code -> text ('' when empty)

    def where(self) -> str:
        return f"{self.sheet}!{self.row} {self.name} {self.kind}"


def workbook_texts(path: Path) -> list[Text]:
    """Every translatable text of an XLSForm workbook (survey and choices), one Text per row and kind."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    out: list[Text] = []
    try:
        for sheet in ("survey", "choices"):
            if sheet not in wb.sheetnames:
                continue
            rows = wb[sheet].iter_rows(values_only=True)
            header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
            by_kind: dict[str, dict[str, int]] = {}
            for j, h in enumerate(header):
                match = _COLUMN.match(h)
                if match and match.group("kind") in TEXT_COLUMNS and match.group("code") in LANGUAGES:
                    by_kind.setdefault(match.group("kind"), {})[match.group("code")] = j
                elif h in TEXT_COLUMNS:  # an untranslated column counts as English
                    by_kind.setdefault(h, {})["en"] = j
            name_col = header.index("name") if "name" in header else None
            for i, row in enumerate(rows, start=2):
                for kind, cols in by_kind.items():
                    texts = {code: _cell(row, cols.get(code)) for code in LANGUAGES}
                    if any(texts.values()):
                        out.append(Text(sheet, i, _cell(row, name_col), kind, texts))
    finally:
        wb.close()
    return out


def _cell(row: tuple, j: int | None) -> str:
    if j is None or j >= len(row) or row[j] is None:
        return ""
    return str(row[j]).strip()


def script_problems(code: str, text: str, english: str) -> list[str]:
    """Letters in a text that are neither in its language's script nor an allowed Latin word that the English
    text has too."""
    bare = _REF.sub(" ", text)
    in_english = set(_LATIN_WORD.findall(_REF.sub(" ", english)))
    allowed = LATIN_ALLOWED & (in_english | {w[:-1] for w in in_english if w.endswith("s")})   # SHGs -> SHG
    problems = [f"Latin word {w!r}" for w in _LATIN_WORD.findall(bare) if w not in allowed]
    bare = _LATIN_WORD.sub(" ", bare)
    ranges = SCRIPTS[code]
    for ch in bare:
        if ch in _JOINERS or not unicodedata.category(ch).startswith(("L", "M")):
            continue  # digits, punctuation, symbols, spaces
        if not any(lo <= ord(ch) <= hi for lo, hi in ranges):
            problems.append(f"{ch!r} (U+{ord(ch):04X}) is not in the {LANGUAGES[code]} script")
    return problems


def text_problems(item: Text) -> list[str]:
    """What is wrong with one text's translations: missing, wrong script, references or numbers changed."""
    english = item.texts.get("en", "")
    problems = []
    for code in LANGUAGES:
        if code == "en":
            continue
        text = item.texts.get(code, "")
        if not text:
            problems.append(f"{item.where()}: no {LANGUAGES[code]} text")
            continue
        problems += [f"{item.where()} [{code}]: {p}" for p in script_problems(code, text, english)]
        if sorted(_REF.findall(text)) != sorted(_REF.findall(english)):
            problems.append(f"{item.where()} [{code}]: ${{...}} references differ from the English")
        if sorted(_NUMBER.findall(_REF.sub(" ", text))) != sorted(_NUMBER.findall(_REF.sub(" ", english))):
            problems.append(f"{item.where()} [{code}]: numbers differ from the English")
    return problems


@dataclass(frozen=True)
class Term:
    term: str                        # the English term, matched as whole words, case-insensitive
    renderings: Mapping[str, tuple[str, ...]]   # code -> accepted forms (the first is the headword)
    note: str


def read_glossary(path: Path) -> list[Term]:
    """forms/glossary.csv: term, en, hi, mr, or, note; a cell may give inflected forms after '|'."""
    with path.open(encoding="utf-8", newline="") as handle:
        terms = []
        for row in csv.DictReader(handle):
            renderings = {code: tuple(p.strip() for p in (row.get(code) or "").split("|") if p.strip())
                          for code in LANGUAGES if code != "en"}
            terms.append(Term(row["term"].strip(), renderings, (row.get("note") or "").strip()))
    return terms


def glossary_problems(items: Iterable[Text], terms: Iterable[Term]) -> list[str]:
    """Texts whose English uses a glossary term while a translation does not use the glossary's rendering.
    Longer terms are matched first and their words are then not matched again (poverty node before node)."""
    ordered = sorted(terms, key=lambda t: -len(t.term))
    problems = []
    for item in items:
        english = _REF.sub(" ", item.texts.get("en", ""))
        for term in ordered:
            pattern = re.compile(rf"\b{re.escape(term.term)}s?\b", re.IGNORECASE)
            if not pattern.search(english):
                continue
            english = pattern.sub(" ", english)
            for code, forms in term.renderings.items():
                text = item.texts.get(code, "")
                if text and forms and not any(form in text for form in forms):
                    problems.append(f"{item.where()} [{code}]: '{term.term}' is not rendered as {forms[0]!r}")
    return problems


def workbook_problems(path: Path, glossary: Path | None = None) -> list[str]:
    """Every translation problem of one workbook; none for a form that is NOT_YET_TRANSLATED."""
    if path.stem in NOT_YET_TRANSLATED:
        return []
    items = workbook_texts(path)
    problems = [p for item in items for p in text_problems(item)]
    if glossary is not None and glossary.exists():
        problems += glossary_problems(items, read_glossary(glossary))
    return problems
