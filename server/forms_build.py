"""Compile the XLSForms in forms/ into XForms beside them, and write a text rendering of each workbook
(forms/text/<workbook>.md) so that a change to a label or a translation is readable in a diff
(scripts/compile_forms).

The compiled XML is committed: the server publishes and serves those exact bytes, so a
stale file would mean phones get a form that differs from its source. --check fails then, and
when a text rendering is stale or a translated form fails the language checks (server/form_languages.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .catalog import FormBuildError, compile_xlsform
from .form_languages import workbook_problems
from .xforms import parse_xform

FORMS = Path(__file__).resolve().parent.parent / "forms"
GLOSSARY = "glossary.csv"


def compiled_path(source: Path, xml: str) -> Path:
    """The XForm goes beside its source, named after its form_id."""
    return source.with_name(parse_xform(xml.encode("utf-8")).form_id + ".xml")


def build(source: Path, validate: bool = True) -> tuple[Path, str]:
    xml = compile_xlsform(source, validate=validate)
    return compiled_path(source, xml), xml


def text_path(source: Path) -> Path:
    return source.parent / "text" / (source.stem + ".md")


def render_text(source: Path) -> str:
    """The workbook as Markdown: per sheet, one block per row with one line per non-empty cell, so that
    a diff shows which row and which column (e.g. label::Hindi (hi)) changed."""
    import openpyxl

    wb = openpyxl.load_workbook(source, read_only=True, data_only=True)
    out = [f"<!-- generated from forms/{source.name} by scripts/compile_forms; edit the workbook, not this file -->",
           "", f"# {source.name}"]
    try:
        for ws in wb.worksheets:
            rows = ws.iter_rows(values_only=True)
            header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
            out += ["", f"## {ws.title}"]
            for i, row in enumerate(rows, start=2):
                cells = [(h, _cell_text(v)) for h, v in zip(header, row) if h and _cell_text(v)]
                if not cells:
                    continue
                title = " ".join(v for h, v in cells if h in ("type", "list_name", "name")) or f"row {i}"
                out += ["", f"### {ws.title}!{i} {title}"]
                out += [f"- {h}: {v}" for h, v in cells if h not in ("type", "list_name", "name")]
    finally:
        wb.close()
    return "\n".join(out) + "\n"


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    return str(value).strip().replace("\\", "\\\\").replace("\n", "\\n")


def stale(forms_dir: Path = FORMS) -> list[str]:
    """Sources whose compiled XForm or text rendering is missing or differs from a fresh build (without
    Validate), and translation problems of translated forms."""
    problems = []
    for source in sorted(forms_dir.glob("*.xlsx")):
        target, xml = build(source, validate=False)
        if not target.exists() or target.read_text(encoding="utf-8") != xml:
            problems.append(f"{source.name} -> {target.name}")
        text = text_path(source)
        if not text.exists() or text.read_text(encoding="utf-8") != render_text(source):
            problems.append(f"{source.name} -> text/{text.name}")
    return problems


def language_problems(forms_dir: Path = FORMS) -> list[str]:
    return [f"{source.name}: {p}" for source in sorted(forms_dir.glob("*.xlsx"))
            for p in workbook_problems(source, forms_dir / GLOSSARY)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale compiled forms")
    parser.add_argument("--forms", type=Path, default=FORMS)
    args = parser.parse_args(argv)
    if args.check:
        problems = stale(args.forms)
        for line in problems:
            print(f"stale: {line} (run scripts/compile_forms)")
        translation = language_problems(args.forms)
        for line in translation:
            print(f"translation: {line}")
        return 1 if problems or translation else 0
    for source in sorted(args.forms.glob("*.xlsx")):
        try:
            target, xml = build(source)
        except FormBuildError as exc:
            print(f"{source.name}: {exc}", file=sys.stderr)
            return 1
        target.write_text(xml, encoding="utf-8")
        text = text_path(source)
        text.parent.mkdir(exist_ok=True)
        text.write_text(render_text(source), encoding="utf-8")
        print(f"{source.name} -> {target.name} (ODK Validate passed), text/{text.name}")
    translation = language_problems(args.forms)  # the forms are written; the designer fixes these next
    for line in translation:
        print(f"translation: {line}", file=sys.stderr)
    return 1 if translation else 0


if __name__ == "__main__":
    sys.exit(main())
