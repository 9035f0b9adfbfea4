"""Changing who may act: a user's password changed or reset, a user disabled or enabled.

Each is one step for the operator or the user, and each keeps three things together: the password
hash (`UserStore`), the personal signing key encrypted under the password (`PersonalKeys`) and the
live sessions (`SessionStore`). Annex 11 §12: when access changes, the sessions opened under the
old access end at once, wherever the cookie has gone.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agents.web.dashboard.personal_keys import PersonalKeys
from agents.web.dashboard.sessions import SessionStore
from agents.web.dashboard.users import User, UserError, UserStore


@dataclass
class Credentials:
    users: UserStore
    keys: PersonalKeys
    sessions: SessionStore

    @classmethod
    def open(cls, users: UserStore, user_keys_path: str | Path | None) -> Credentials:
        """Keys and sessions kept in the users file beside the users themselves."""
        return cls(users, PersonalKeys(users.path, user_keys_path, users.hasher), SessionStore(users.path))

    def close(self) -> None:
        self.keys.close()
        self.sessions.close()

    def change_password(self, username: str, current: str, new: str) -> User:
        """The user changes their own password: the current one must be right. Their signing key is
        re-encrypted under the new one and every session of theirs ends."""
        user = self.users.authenticate(username, current)
        if user is None:
            raise UserError("the current password is not right")
        if current == new:
            raise UserError("the new password must differ from the current one")
        self.users.set_password(username, new)  # checks the new password's strength first
        self.keys.rewrap(username, current, new)
        self.sessions.end_all(username)
        return user

    def reset_password(self, username: str, new: str) -> User:
        """An operator sets a new password (the user forgot theirs). The old key cannot be opened any
        more, so it is retired; the user gets a new one at their next signature."""
        self.users.set_password(username, new)
        self.keys.retire(username)
        self.sessions.end_all(username)
        return self.users.get(username)

    def set_disabled(self, username: str, disabled: bool = True) -> User:
        user = self.users.set_disabled(username, disabled)
        if disabled:
            self.sessions.end_all(username)
        return user
