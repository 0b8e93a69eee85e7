"""Compile the XLSForms in forms/ into XForms beside them (scripts/compile_forms).

The compiled XML is committed: the server publishes and serves those exact bytes, so a
stale file would mean phones get a form that differs from its source. --check fails then.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .catalog import FormBuildError, compile_xlsform
from .xforms import parse_xform

FORMS = Path(__file__).resolve().parent.parent / "forms"


def compiled_path(source: Path, xml: str) -> Path:
    """The XForm goes beside its source, named after its form_id."""
    return source.with_name(parse_xform(xml.encode("utf-8")).form_id + ".xml")


def build(source: Path, validate: bool = True) -> tuple[Path, str]:
    xml = compile_xlsform(source, validate=validate)
    return compiled_path(source, xml), xml


def stale(forms_dir: Path = FORMS) -> list[str]:
    """Sources whose compiled XForm is missing or differs from a fresh compile (without Validate)."""
    problems = []
    for source in sorted(forms_dir.glob("*.xlsx")):
        target, xml = build(source, validate=False)
        if not target.exists() or target.read_text(encoding="utf-8") != xml:
            problems.append(f"{source.name} -> {target.name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale compiled forms")
    parser.add_argument("--forms", type=Path, default=FORMS)
    args = parser.parse_args(argv)
    if args.check:
        problems = stale(args.forms)
        for line in problems:
            print(f"stale: {line} (run scripts/compile_forms)")
        return 1 if problems else 0
    for source in sorted(args.forms.glob("*.xlsx")):
        try:
            target, xml = build(source)
        except FormBuildError as exc:
            print(f"{source.name}: {exc}", file=sys.stderr)
            return 1
        target.write_text(xml, encoding="utf-8")
        print(f"{source.name} -> {target.name} (ODK Validate passed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
