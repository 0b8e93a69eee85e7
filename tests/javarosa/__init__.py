"""Fill forms with JavaRosa, the engine inside ODK Collect, from the tests.

ODK Validate only parses a form and loads its CSVs as empty stubs; it cannot show that lookups into the lists,
choice filters, constraints and repeats behave as an enumerator will meet them. Fill.java (beside this file) drives
the JavaRosa bundled in pyxform's ODK_Validate.jar the way Collect does: it loads the form with its media files,
steps through every question it reaches, answers from a script and serialises the submission XML.

    result = fill(FORMS / "poverty_nodes.xml", media_dir, [("cluster", "chanderi"), ("@problem", "yes"), ...])
    result.xml          # the submission bytes, as Collect would send them
    result.prompts      # the path of every question reached, in order
    result.texts        # the question text JavaRosa shows at each of them (in the language chosen)

language="Hindi (hi)" fills the form in that language, as when the enumerator picks it in Collect; load_form
and fill then also refuse (kind 'language') a form without that language or with a text missing in it.

A script is a list of (name, value) pairs: the question's name, and the value as Collect stores it (choice names,
space-separated for select_multiple, "lat lon alt acc" for a geopoint). A name answered in several repeat
instances takes its values in order. ("@repeat", "yes") answers Collect's "add another?" prompt for a repeat
without a count. An answer the form refuses raises JavaRosaError naming the question: a constraint
(kind 'constraint'), a required question left blank ('required'), a choice that the form does not offer there
('no_choice'), an answer left over that no question asked for ('unused'), or a missing or empty CSV, which Collect
refuses to open ('placeholder'), or a language missing ('language').
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

_SOURCE = Path(__file__).with_name("Fill.java")
_KINDS = {3: "constraint", 4: "required", 5: "no_choice", 6: "invalid", 7: "placeholder", 8: "unused",
          9: "language"}


class JavaRosaError(AssertionError):
    """JavaRosa refused the script: kind says how, lines are its report (e.g. 'CONSTRAINT /data/x  message')."""

    def __init__(self, kind: str, lines: list[str]):
        self.kind = kind
        self.lines = lines
        super().__init__(f"JavaRosa {kind}: " + " | ".join(l for l in lines if not l.startswith("PROMPT ")))


@dataclass
class Filled:
    xml: bytes
    prompts: list[str] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)


def validate_jar() -> Path:
    from pyxform.validators.odk_validate import ODK_VALIDATE_PATH
    return Path(ODK_VALIDATE_PATH)


def _classpath() -> str:
    """Compile Fill.java once per source and jar, into the temp folder (the tests never write into the checkout)."""
    jar = validate_jar()
    if shutil.which("javac") is None:
        raise RuntimeError("javac is not on PATH: the JavaRosa tests need a JDK (scripts/test installs one as root)")
    key = hashlib.sha256(_SOURCE.read_bytes() + str(jar.stat().st_size).encode()).hexdigest()[:16]
    build = Path(tempfile.gettempdir()) / f"ppa-javarosa-{key}"
    if not (build / "Fill.class").exists():
        staging = Path(tempfile.mkdtemp(prefix="ppa-javarosa-"))
        subprocess.run(["javac", "-nowarn", "-encoding", "UTF-8", "-d", str(staging), "-cp", str(jar), str(_SOURCE)],
                       check=True, capture_output=True)
        try:
            staging.rename(build)          # whole or not at all: parallel test runs may race here
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return f"{jar}:{build}"


def _media_folder(media: Path | Mapping[str, bytes] | None, work: Path) -> Path:
    if media is None or isinstance(media, Mapping):
        folder = work / "media"
        folder.mkdir()
        for name, content in (media or {}).items():
            (folder / name).write_bytes(content)
        return folder
    return Path(media)


def _run(mode: str, form: Path, media, script: Iterable[tuple[str, str]] = (), language: str = "") -> Filled:
    with tempfile.TemporaryDirectory(prefix="ppa-fill-") as tmp:
        work = Path(tmp)
        folder = _media_folder(media, work)
        answers = work / "answers.tsv"
        lines = []
        for name, value in script:
            text = str(value)
            if "\t" in text or "\n" in text:
                raise ValueError(f"answer for {name!r} holds a tab or line break")
            lines.append(f"{name}\t{text}\n")
        answers.write_text("".join(lines), encoding="utf-8")
        out = work / "submission.xml"
        done = subprocess.run(["java", "-cp", _classpath(), "Fill", mode, str(form), str(folder), str(answers),
                               str(out), language], capture_output=True, text=True, timeout=120)
        report = done.stdout.splitlines()
        if done.returncode != 0:
            if done.returncode in _KINDS:
                raise JavaRosaError(_KINDS[done.returncode], report)
            raise RuntimeError(f"JavaRosa failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        prompts = [line.removeprefix("PROMPT ") for line in report if line.startswith("PROMPT ")]
        texts = dict(line.removeprefix("TEXT ").split("\t", 1) for line in report if line.startswith("TEXT "))
        return Filled(xml=out.read_bytes() if out.exists() else b"", prompts=prompts, texts=texts)


def load_form(form: Path, media: Path | Mapping[str, bytes] | None = None, language: str = "") -> None:
    """Load the form with its media as Collect opens it; JavaRosaError('placeholder') if a CSV is missing or empty,
    ('language') if a language is asked for and the form lacks it or a text in it."""
    _run("load", form, media, language=language)


def fill(form: Path, media: Path | Mapping[str, bytes] | None, script: Iterable[tuple[str, str]],
         language: str = "") -> Filled:
    """Fill the form from a script of (name, value) answers and return the submission JavaRosa writes."""
    return _run("fill", form, media, script, language)
