"""People and devices: devices, users, API tokens, memberships, NDAs' clusters, web sessions, Digest nonce counts,
sign-in throttling, forms per device, the audit log. SQL shared by both engines (a mixin of SQLiteStore and
PostgresStore): SQL lives only in server/storage/."""

from __future__ import annotations

import json
from typing import Any, Iterable

from .base import now


class PeopleQueries:
    """Mixed into both stores; uses the engine's transaction(), _execute() and the base helpers."""

    # -- devices ------------------------------------------------------------

    def create_device(self, project_id: int, name: str, token: str, actor: str | None) -> dict:
        with self.transaction():
            device_id = self._scalar("INSERT INTO devices (project_id, name, token, created_at, created_by) "
                                     "VALUES (?, ?, ?, ?, ?) RETURNING id", [project_id, name, token, now(), actor])
            return self.get_device(device_id)

    def get_device(self, device_id: int) -> dict | None:
        return self._one("SELECT * FROM devices WHERE id = ?", [device_id])

    def device_by_token(self, token: str) -> dict | None:
        return self._one("SELECT * FROM devices WHERE token = ?", [token])

    def list_devices(self, project_id: int | None = None) -> list[dict]:
        if project_id is None:
            return self._all("SELECT * FROM devices ORDER BY id")
        return self._all("SELECT * FROM devices WHERE project_id = ? ORDER BY id", [project_id])

    def revoke_device(self, device_id: int) -> None:
        with self.transaction():
            self._execute("UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [now(), device_id])

    def touch_device(self, device_id: int) -> None:
        with self.transaction():
            self._execute("UPDATE devices SET last_seen_at = ? WHERE id = ?", [now(), device_id])

    # -- users --------------------------------------------------------------

    def create_user(self, email: str, role: str, password_hash: str, digest_ha1: str) -> dict:
        with self.transaction():
            user_id = self._scalar("INSERT INTO users (email, role, password_hash, digest_ha1, created_at) "
                                   "VALUES (?, ?, ?, ?, ?) RETURNING id",
                                   [email, role, password_hash, digest_ha1, now()])
            return self._one("SELECT * FROM users WHERE id = ?", [user_id])

    def user_by_id(self, user_id: int) -> dict | None:
        return self._one("SELECT * FROM users WHERE id = ? AND disabled_at IS NULL", [user_id])

    def user_by_email(self, email: str) -> dict | None:
        return self._one("SELECT * FROM users WHERE email = ? AND disabled_at IS NULL", [email])

    def count_users(self, role: str | None = None) -> int:
        if role is None:
            return self._execute("SELECT count(*) FROM users").fetchone()[0]
        return self._execute("SELECT count(*) FROM users WHERE role = ?", [role]).fetchone()[0]

    # -- audit --------------------------------------------------------------

    def audit(self, actor: str | None, action: str, target: str | None = None, details: Any = None) -> None:
        with self.transaction():
            self._execute("INSERT INTO audit_log (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)",
                       [now(), actor, action, target, json.dumps(details) if details is not None else None])

    def audit_entries(self, action: str | None = None, limit: int = 100) -> list[dict]:
        if action:
            return self._all("SELECT * FROM audit_log WHERE action = ? ORDER BY id DESC LIMIT ?", [action, limit])
        return self._all("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", [limit])

    # -- API tokens ---------------------------------------------------------------------

    def create_api_token(self, user_id: int, token_hash: str, label: str | None) -> int:
        with self.transaction():
            return self._scalar("INSERT INTO api_tokens (user_id, token_hash, label, created_at) VALUES (?, ?, ?, ?) "
                                "RETURNING id", [user_id, token_hash, label, now()])

    def user_by_api_token(self, token_hash: str) -> dict | None:
        return self._one("SELECT u.* FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ? "
                         "AND t.revoked_at IS NULL AND u.disabled_at IS NULL", [token_hash])

    def revoke_api_tokens(self, user_id: int) -> None:
        with self.transaction():
            self._execute("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                       [now(), user_id])

    # -- users --------------------------------------------------------------------------

    def list_users(self) -> list[dict]:
        return self._all("SELECT id, email, role, created_at, disabled_at FROM users ORDER BY email")

    def user_any(self, user_id: int) -> dict | None:
        """A user whether or not disabled (for administration pages)."""
        return self._one("SELECT * FROM users WHERE id = ?", [user_id])

    def disable_user(self, user_id: int) -> None:
        """Disabling ends the user's sessions and revokes their API tokens."""
        with self.transaction():
            self._execute("UPDATE users SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?", [now(), user_id])
            self._execute("DELETE FROM web_sessions WHERE user_id = ?", [user_id])
            self._execute("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE user_id = ?",
                       [now(), user_id])

    def set_password(self, user_id: int, password_hash: str, digest_ha1: str, keep_session: str | None = None) -> None:
        """A new password ends every session of the user but keep_session (the key of the one that changed it)."""
        with self.transaction():
            self._execute("UPDATE users SET password_hash = ?, digest_ha1 = ? WHERE id = ?",
                       [password_hash, digest_ha1, user_id])
            self._execute("DELETE FROM web_sessions WHERE user_id = ? AND key IS DISTINCT FROM ?",
                          [user_id, keep_session])

    def set_user_label_language(self, user_id: int, code: str | None) -> None:
        """The user's language for question and choice labels on the pages; None: the project's default."""
        with self.transaction():
            self._execute("UPDATE users SET label_language = ? WHERE id = ?", [code, user_id])

    def set_project_label_language(self, project_id: int, code: str) -> None:
        with self.transaction():
            self._execute("UPDATE projects SET label_language = ? WHERE id = ?", [code, project_id])

    # -- web sessions (keys are SHA-256 of the id in the cookie) --------------------------------

    def create_session(self, key: str, user_id: int, now: float, lifetime_s: float) -> None:
        with self.transaction():
            self._execute("DELETE FROM web_sessions WHERE expires_at <= ?", [now])
            self._execute("INSERT INTO web_sessions (key, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                       [key, user_id, now, now + lifetime_s])

    def user_by_session(self, key: str, now: float) -> dict | None:
        return self._one("SELECT u.* FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.key = ? "
                         "AND s.expires_at > ? AND u.disabled_at IS NULL", [key, now])

    def end_session(self, key: str) -> None:
        with self.transaction():
            self._execute("DELETE FROM web_sessions WHERE key = ?", [key])

    def end_sessions(self, user_id: int) -> None:
        with self.transaction():
            self._execute("DELETE FROM web_sessions WHERE user_id = ?", [user_id])

    # -- Digest nonce counts --------------------------------------------------------------------

    def use_nonce_count(self, nonce: str, nc: int, issued_at: float, forget_before: float) -> bool:
        """Record that this nonce count was used; False if it was already. Counts of nonces issued before
        forget_before (expired, so refused before they get here) are deleted."""
        with self.transaction():
            self._execute("DELETE FROM digest_nonce_counts WHERE issued_at < ?", [forget_before])
            return self._execute("INSERT INTO digest_nonce_counts (nonce, nc, issued_at) VALUES (?, ?, ?) "
                                 "ON CONFLICT (nonce, nc) DO NOTHING", [nonce, nc, issued_at]).rowcount == 1

    # -- memberships and clusters -------------------------------------------------------

    def add_membership(self, user_id: int, project_id: int, clusters: Iterable[str] = ()) -> None:
        with self.transaction():
            self._execute("INSERT INTO memberships (user_id, project_id) VALUES (?, ?) "
                          "ON CONFLICT (user_id, project_id) DO NOTHING", [user_id, project_id])
            self._executemany("INSERT INTO nda_clusters (user_id, project_id, cluster) VALUES (?, ?, ?) "
                              "ON CONFLICT (user_id, project_id, cluster) DO NOTHING",
                                [(user_id, project_id, c) for c in clusters])

    def set_clusters(self, user_id: int, project_id: int, clusters: Iterable[str]) -> None:
        with self.transaction():
            self._execute("DELETE FROM nda_clusters WHERE user_id = ? AND project_id = ?", [user_id, project_id])
            self._executemany("INSERT INTO nda_clusters (user_id, project_id, cluster) VALUES (?, ?, ?)",
                                [(user_id, project_id, c) for c in sorted(set(clusters))])

    def memberships(self, user_id: int) -> dict[int, set[str]]:
        """project id -> the clusters assigned in it (empty for roles that see the whole project)."""
        out: dict[int, set[str]] = {r[0]: set() for r in self._execute(
            "SELECT project_id FROM memberships WHERE user_id = ?", [user_id])}
        for project_id, cluster in self._execute("SELECT project_id, cluster FROM nda_clusters WHERE user_id = ?",
                                                   [user_id]):
            out.setdefault(project_id, set()).add(cluster)
        return out

    def project_members(self, project_id: int) -> list[dict]:
        rows = self._all("SELECT u.id, u.email, u.role, u.disabled_at FROM memberships m JOIN users u "
                         "ON u.id = m.user_id WHERE m.project_id = ? ORDER BY u.email", [project_id])
        for row in rows:
            row["clusters"] = sorted(r[0] for r in self._execute(
                "SELECT cluster FROM nda_clusters WHERE user_id = ? AND project_id = ?", [row["id"], project_id]))
        return rows

    # -- sign-in throttling (per account and address) ---------------------------------------------

    def record_sign_in_failure(self, email: str, remote_addr: str | None, at: float, forget_before: float) -> None:
        with self.transaction():
            self._execute("INSERT INTO sign_in_failures (email, remote_addr, at) VALUES (?, ?, ?)",
                       [email, remote_addr, at])
            self._execute("DELETE FROM sign_in_failures WHERE at < ?", [forget_before])

    def sign_in_failures(self, email: str, remote_addr: str | None, since: float) -> tuple[int, float | None]:
        """How many failed sign-ins this account had from this address since then, and when the last was."""
        count, last = self._execute("SELECT count(*), max(at) FROM sign_in_failures WHERE email = ? "
                                    "AND remote_addr IS NOT DISTINCT FROM ? AND at > ?",
                                    [email, remote_addr, since]).fetchone()
        return count, last

    def clear_sign_in_failures(self, email: str, remote_addr: str | None) -> None:
        with self.transaction():
            self._execute("DELETE FROM sign_in_failures WHERE email = ? AND remote_addr IS NOT DISTINCT FROM ?",
                          [email, remote_addr])

    # -- forms per device -------------------------------------------------------------------

    def device_form_ids(self, device_id: int) -> set[int]:
        """The forms a device is given; empty means every form of its project."""
        return {r[0] for r in self._execute("SELECT form_id FROM device_forms WHERE device_id = ?", [device_id])}

    def set_device_forms(self, device_id: int, form_ids: Iterable[int]) -> None:
        with self.transaction():
            self._execute("DELETE FROM device_forms WHERE device_id = ?", [device_id])
            self._executemany("INSERT INTO device_forms (device_id, form_id) VALUES (?, ?)",
                                [(device_id, f) for f in sorted(set(form_ids))])

    # -- audit log ---------------------------------------------------------------------------

    def audit_search(self, action: str | None = None, actor: str | None = None, since: str | None = None,
                     until: str | None = None, limit: int = 200, before_id: int | None = None) -> list[dict]:
        where, params = ["1 = 1"], []
        for clause, value in (("action LIKE ?", f"{action}%" if action else None), ("actor = ?", actor),
                              ("at >= ?", since), ("at < ?", until), ("id < ?", before_id)):
            if value:
                where.append(clause)
                params.append(value)
        return self._all(f"SELECT * FROM audit_log WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
                         params + [limit])

    def audit_actions(self) -> list[str]:
        return [r[0] for r in self._execute("SELECT DISTINCT action FROM audit_log ORDER BY action")]

