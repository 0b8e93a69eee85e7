"""Values every app server of one database shares (server_settings). SQL shared by both engines."""

from __future__ import annotations

from typing import Callable


class SettingsQueries:
    """Mixed into both stores."""

    def shared_secret(self, name: str, make: Callable[[], str]) -> str:
        """A secret every app server shares (e.g. the session key): made once by `make`, then read back. Two
        servers starting at once both try to insert; the primary key keeps the first, and both read it."""
        with self.transaction():
            self._execute("INSERT INTO server_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                          [name, make()])
            return self._scalar("SELECT value FROM server_settings WHERE name = ?", [name])
