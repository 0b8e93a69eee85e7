"""People and devices: memberships, NDAs' clusters, sign-in throttling, forms per device, the audit log.
Part of the storage layer (a mixin of SQLiteStore): SQL lives only in server/storage/."""

from __future__ import annotations

import time
from typing import Iterable


class PeopleQueries:
    """Mixed into SQLiteStore; uses its db, write(), _one() and _all()."""

    # -- users --------------------------------------------------------------------------

    def list_users(self) -> list[dict]:
        return self._all("SELECT id, email, role, created_at, disabled_at FROM users ORDER BY email")

    def user_any(self, user_id: int) -> dict | None:
        """A user whether or not disabled (for administration pages)."""
        return self._one("SELECT * FROM users WHERE id = ?", [user_id])

    def disable_user(self, user_id: int) -> None:
        """Disabling signs the user out everywhere and revokes their API tokens on the next request."""
        with self.write() as db:
            db.execute("UPDATE users SET disabled_at = COALESCE(disabled_at, ?), session_epoch = session_epoch + 1 "
                       "WHERE id = ?", [_now(), user_id])
            db.execute("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE user_id = ?",
                       [_now(), user_id])

    def bump_session_epoch(self, user_id: int) -> None:
        with self.write() as db:
            db.execute("UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?", [user_id])

    def set_password(self, user_id: int, password_hash: str, digest_ha1: str) -> None:
        with self.write() as db:
            db.execute("UPDATE users SET password_hash = ?, digest_ha1 = ?, session_epoch = session_epoch + 1 "
                       "WHERE id = ?", [password_hash, digest_ha1, user_id])

    # -- memberships and clusters -------------------------------------------------------

    def add_membership(self, user_id: int, project_id: int, clusters: Iterable[str] = ()) -> None:
        with self.write() as db:
            db.execute("INSERT OR IGNORE INTO memberships (user_id, project_id) VALUES (?, ?)", [user_id, project_id])
            db.conn.executemany("INSERT OR IGNORE INTO nda_clusters (user_id, project_id, cluster) VALUES (?, ?, ?)",
                                [(user_id, project_id, c) for c in clusters])

    def set_clusters(self, user_id: int, project_id: int, clusters: Iterable[str]) -> None:
        with self.write() as db:
            db.execute("DELETE FROM nda_clusters WHERE user_id = ? AND project_id = ?", [user_id, project_id])
            db.conn.executemany("INSERT INTO nda_clusters (user_id, project_id, cluster) VALUES (?, ?, ?)",
                                [(user_id, project_id, c) for c in sorted(set(clusters))])

    def memberships(self, user_id: int) -> dict[int, set[str]]:
        """project id -> the clusters assigned in it (empty for roles that see the whole project)."""
        out: dict[int, set[str]] = {r[0]: set() for r in self.db.execute(
            "SELECT project_id FROM memberships WHERE user_id = ?", [user_id])}
        for project_id, cluster in self.db.execute("SELECT project_id, cluster FROM nda_clusters WHERE user_id = ?",
                                                   [user_id]):
            out.setdefault(project_id, set()).add(cluster)
        return out

    def project_members(self, project_id: int) -> list[dict]:
        rows = self._all("SELECT u.id, u.email, u.role, u.disabled_at FROM memberships m JOIN users u "
                         "ON u.id = m.user_id WHERE m.project_id = ? ORDER BY u.email", [project_id])
        for row in rows:
            row["clusters"] = sorted(r[0] for r in self.db.execute(
                "SELECT cluster FROM nda_clusters WHERE user_id = ? AND project_id = ?", [row["id"], project_id]))
        return rows

    # -- sign-in throttling ---------------------------------------------------------------

    def record_sign_in_failure(self, email: str, remote_addr: str | None) -> None:
        with self.write() as db:
            db.execute("INSERT INTO sign_in_failures (email, remote_addr, at) VALUES (?, ?, ?)",
                       [email, remote_addr, time.time()])
            db.execute("DELETE FROM sign_in_failures WHERE at < ?", [time.time() - 86400])

    def recent_sign_in_failures(self, email: str, window_s: float) -> int:
        return self.db.execute("SELECT count(*) FROM sign_in_failures WHERE email = ? AND at > ?",
                               [email, time.time() - window_s]).fetchone()[0]

    def clear_sign_in_failures(self, email: str) -> None:
        with self.write() as db:
            db.execute("DELETE FROM sign_in_failures WHERE email = ?", [email])

    # -- forms per device -------------------------------------------------------------------

    def device_form_ids(self, device_id: int) -> set[int]:
        """The forms a device is given; empty means every form of its project."""
        return {r[0] for r in self.db.execute("SELECT form_id FROM device_forms WHERE device_id = ?", [device_id])}

    def set_device_forms(self, device_id: int, form_ids: Iterable[int]) -> None:
        with self.write() as db:
            db.execute("DELETE FROM device_forms WHERE device_id = ?", [device_id])
            db.conn.executemany("INSERT INTO device_forms (device_id, form_id) VALUES (?, ?)",
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
        return [r[0] for r in self.db.execute("SELECT DISTINCT action FROM audit_log ORDER BY action")]


def _now() -> str:
    from .sqlite import now
    return now()

