"""The form catalogue: compile and publish XLSForms, and read published versions back as FormDefs.

Publishing stores the compiled XForm bytes once; they are hashed and served byte for byte
(PROTOCOL.md 1.5). Republishing an identical version is a no-op; the same version with
other content is refused (Central's 409.6), because phones tell versions apart by hash.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from . import errors, lists, rows
from .storage import Store
from .xforms import FormDef, md5_hash, parse_xform

_XLSFORM_SUFFIXES = {".xlsx", ".xls", ".md", ".csv"}


class FormBuildError(ValueError):
    """The XLSForm or XForm could not be compiled or failed ODK Validate."""


@dataclass
class Published:
    form_id: str
    version: str
    def_id: int
    hash: str
    created: bool


def compile_xlsform(source: bytes | str | Path, validate: bool = True) -> str:
    """XLSForm (path or bytes) -> XForm text, via pyxform; ODK Validate runs when validate is true."""
    from pyxform.errors import PyXFormError
    from pyxform.validators.odk_validate import ODKValidateError
    from pyxform.xls2xform import convert

    try:
        result = convert(xlsform=source if not isinstance(source, Path) else str(source), validate=validate,
                         pretty_print=True, warnings=[])
    except (PyXFormError, ODKValidateError) as exc:
        raise FormBuildError(str(exc)) from None
    return result.xform


def validate_xform(xml: bytes) -> list[str]:
    """Run ODK Validate (JavaRosa) on XForm bytes; raise FormBuildError on any error."""
    from pyxform.validators.odk_validate import ODKValidateError, check_xform

    fd, path = tempfile.mkstemp(suffix=".xml")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(xml)
        return check_xform(path)
    except ODKValidateError as exc:
        raise FormBuildError(str(exc)) from None
    finally:
        os.unlink(path)


def publish(store: Store, project_id: int, content: bytes, filename: str, actor: str | None = None,
            validate: bool = True) -> Published:
    """Publish an XLSForm or XForm file as the current version of its form in a project."""
    suffix = Path(filename).suffix.lower()
    xlsform = None
    if suffix in _XLSFORM_SUFFIXES:
        xlsform = content
        xml = compile_xlsform(content if suffix != ".md" else content.decode("utf-8"), validate=False).encode()
    elif suffix == ".xml":
        xml = content
    else:
        raise FormBuildError(f"{filename}: expected an XLSForm (.xlsx, .xls) or an XForm (.xml)")
    try:
        form = parse_xform(xml)
    except Exception as exc:  # lxml and structure errors alike: the file is not a usable XForm
        raise FormBuildError(f"{filename}: {exc}") from None
    digest = md5_hash(xml)
    existing = store.get_form(project_id, form.form_id)
    if existing is not None:
        same = store.get_form_def(existing["id"], form.version)
        if same is not None:
            if same["hash"] == digest:
                return Published(form.form_id, form.version, same["id"], digest, created=False)
            raise errors.version_conflict(form.form_id, form.version)
    if validate:
        validate_xform(xml)
    with store.transaction():
        def_id = store.add_form_def(project_id, form.form_id, form.version, form.title, xml, digest, xlsform, actor)
        for table, columns in rows.layout(project_id, form).items():
            store.ensure_table(table, columns)
        for name in lists.managed(form.media):
            store.ensure_list(project_id, name, lists.LISTS[name])
        store.audit(actor, "form.publish", f"{project_id}/{form.form_id}", {"version": form.version,
                                                                           "hash": digest})
    return Published(form.form_id, form.version, def_id, digest, created=True)


class FormCache:
    """Parsed FormDefs by definition id: parsing an XForm once per process, not per submission."""

    def __init__(self) -> None:
        self._defs: dict[int, FormDef] = {}
        self._lock = threading.Lock()

    def get(self, store: Store, def_id: int) -> FormDef:
        form = self._defs.get(def_id)
        if form is None:
            form = parse_xform(store.form_def_xml(def_id))
            with self._lock:
                self._defs[def_id] = form
        return form
