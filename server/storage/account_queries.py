"""A user's own API tokens, listed and revoked one at a time on the account page. A query module shared by both
stores (contract.py: PeopleStore): SQL written once with ? placeholders, run on SQLite and PostgreSQL."""

from __future__ import annotations

from .base import now


class AccountQueries:
    """Mixed into both stores; uses their _execute(), transaction(), _one() and _all()."""

    def api_tokens(self, user_id: int) -> list[dict]:
        """A user's tokens, newest first, without their hashes."""
        return self._all("SELECT id, label, created_at, revoked_at, last_used_at FROM api_tokens WHERE user_id = ? "
                         "ORDER BY id DESC", [user_id])

    def revoke_api_token(self, user_id: int, token_id: int) -> dict | None:
        """Revoke one of a user's tokens that is still valid; the token (id, label), or None when the user has no
        such valid token."""
        with self.transaction():
            row = self._one("SELECT id, label FROM api_tokens WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
                            [token_id, user_id])
            if row is not None:
                self._execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [now(), token_id])
            return row
