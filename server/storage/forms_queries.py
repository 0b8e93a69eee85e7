"""Projects, stored files (blobs), forms and their versions, project settings. SQL shared by both engines (a mixin
of SQLiteStore and PostgresStore); see contract.py for the transaction rules."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

from .base import in_transaction, now


class FormQueries:
    """Mixed into both stores; uses the engine's transaction(), _execute() and the base helpers."""

    # -- projects -----------------------------------------------------------

    def create_project(self, name: str) -> dict:
        with self.transaction():
            project_id = self._scalar("INSERT INTO projects (name, created_at) VALUES (?, ?) RETURNING id",
                                      [name, now()])
            return self.get_project(project_id)

    def get_project(self, project_id: int) -> dict | None:
        return self._one("SELECT * FROM projects WHERE id = ?", [project_id])

    def project_by_name(self, name: str) -> dict | None:
        return self._one("SELECT * FROM projects WHERE name = ?", [name])

    def list_projects(self) -> list[dict]:
        return self._all("SELECT * FROM projects ORDER BY id")

    # -- blobs --------------------------------------------------------------

    @in_transaction
    def put_blob(self, content: bytes) -> str:
        """Store a file's bytes once, named by their SHA-256 (returned)."""
        sha = hashlib.sha256(content).hexdigest()
        self._execute("INSERT INTO blobs (sha256, md5, size, content) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT (sha256) DO NOTHING", [sha, hashlib.md5(content).hexdigest(), len(content), content])
        return sha

    def get_blob(self, sha256: str) -> bytes | None:
        row = self._execute("SELECT content FROM blobs WHERE sha256 = ?", [sha256]).fetchone()
        return bytes(row[0]) if row else None

    def blob_md5(self, sha256: str) -> str | None:
        row = self._execute("SELECT md5 FROM blobs WHERE sha256 = ?", [sha256]).fetchone()
        return row[0] if row else None

    # -- forms --------------------------------------------------------------

    def get_form(self, project_id: int, xml_form_id: str) -> dict | None:
        return self._one("SELECT * FROM forms WHERE project_id = ? AND xml_form_id = ?", [project_id, xml_form_id])

    def list_forms(self, project_id: int) -> list[dict]:
        """Forms with their current definition's version, title and hash, ordered by title."""
        return self._all(
            """SELECT f.id, f.project_id, f.xml_form_id, f.state, f.current_def_id, d.version, d.title, d.hash,
                      d.published_at
               FROM forms f JOIN form_defs d ON d.id = f.current_def_id
               WHERE f.project_id = ? ORDER BY d.title, f.xml_form_id""", [project_id])

    def get_form_def(self, form_id: int, version: str) -> dict | None:
        return self._one("SELECT id, form_id, version, title, hash, published_at FROM form_defs "
                         "WHERE form_id = ? AND version = ?", [form_id, version])

    def get_form_def_by_id(self, def_id: int) -> dict | None:
        return self._one("SELECT id, form_id, version, title, hash, published_at FROM form_defs WHERE id = ?",
                         [def_id])

    def form_def_xml(self, def_id: int) -> bytes:
        row = self._execute("SELECT xml FROM form_defs WHERE id = ?", [def_id]).fetchone()
        return bytes(row[0])

    def list_form_defs(self, form_id: int) -> list[dict]:
        return self._all("SELECT id, version, title, hash, published_at, published_by FROM form_defs "
                         "WHERE form_id = ? ORDER BY id", [form_id])

    def add_form_def(self, project_id: int, xml_form_id: str, version: str, title: str, xml: bytes, hash_: str,
                     xlsform: bytes | None, actor: str | None) -> int:
        """Publish a new version and make it current; creates the form on first publish."""
        with self.transaction():
            form = self.get_form(project_id, xml_form_id)
            if form is None:
                form_id = self._scalar("INSERT INTO forms (project_id, xml_form_id, created_at) VALUES (?, ?, ?) "
                                       "RETURNING id", [project_id, xml_form_id, now()])
            else:
                form_id = form["id"]
            def_id = self._scalar(
                "INSERT INTO form_defs (form_id, version, title, xml, hash, xlsform, published_at, published_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [form_id, version, title, xml, hash_, xlsform, now(), actor])
            self._execute("UPDATE forms SET current_def_id = ? WHERE id = ?", [def_id, form_id])
            return def_id

    def set_form_state(self, form_id: int, state: str) -> None:
        with self.transaction():
            self._execute("UPDATE forms SET state = ? WHERE id = ?", [state, form_id])

    def set_form_attachment(self, def_id: int, name: str, content: bytes) -> None:
        with self.transaction():
            sha = self.put_blob(content)
            self._execute("INSERT INTO form_attachments (form_def_id, name, blob_sha256) VALUES (?, ?, ?) "
                          "ON CONFLICT (form_def_id, name) DO UPDATE SET blob_sha256 = excluded.blob_sha256",
                          [def_id, name, sha])

    def form_attachments(self, def_id: int) -> dict[str, dict]:
        rows = self._all("SELECT a.name, a.blob_sha256, b.md5, b.size FROM form_attachments a "
                         "JOIN blobs b ON b.sha256 = a.blob_sha256 WHERE a.form_def_id = ?", [def_id])
        return {r["name"]: r for r in rows}

    # -- project settings -------------------------------------------------------

    def project_settings(self, project_id: int) -> dict:
        row = self._execute("SELECT settings FROM projects WHERE id = ?", [project_id]).fetchone()
        return json.loads(row[0]) if row else {}

    def set_project_settings(self, project_id: int, settings: Mapping[str, Any]) -> None:
        with self.transaction():
            self._execute("UPDATE projects SET settings = ? WHERE id = ?", [json.dumps(dict(settings)), project_id])
