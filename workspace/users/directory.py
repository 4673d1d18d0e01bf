"""``UserDirectory``: the users file as a running server sees it.

- It re-reads the file when it changes (``users add / remove / token --rotate`` on the
  same machine take effect without a restart): checked on every handshake and by the
  server's periodic ``refresh``.  A file that cannot be read keeps the last good
  reading (logged): a half-edited file must not lock everybody out; a removed user or
  a rotated token stops working as soon as the new file is read.
- ``revoked(user, token)`` says why a connection made as ``user`` with ``token`` may no
  longer act: the user was removed, or the token rotated.  Servers and gateways close
  such connections (1008) once they read the change, so a token that leaked stops
  working for the connections it already opened too, not only for new ones.
- ``authenticate(token)`` finds the user by the token's id and checks its secret with
  scrypt in a worker thread (never on the event loop: ~45 ms of CPU), at most
  ``max_parallel`` at a time.  Tokens that passed are remembered by a keyed digest (an
  HMAC with a key made at start, so memory holds no token), until the user's stored
  hash changes: a client that reconnects costs one dictionary lookup.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable

from workspace.users.store import Users, UsersFile, UsersFileError
from workspace.users.tokens import TokenHash, split_token

_log = logging.getLogger("workspace.users")

MAX_REMEMBERED = 100_000


class UserDirectory:
    def __init__(self, users_file: UsersFile | str, *, max_parallel: int = 2) -> None:
        self.file = users_file if isinstance(users_file, UsersFile) else UsersFile(users_file)
        self._users = self.file.read()  # a missing or damaged file fails the start
        self._signature = self.file.signature()
        self._key = secrets.token_bytes(32)
        self._verified: dict[bytes, TokenHash] = {}
        self._parallel = asyncio.Semaphore(max_parallel)
        self._failed_reload: str | None = None
        self.on_change: list[Callable[[Users, Users], None]] = []

    @property
    def users(self) -> Users:
        """The users as last read (``refresh`` first to see a change)."""
        return self._users

    def refresh(self) -> Users:
        """Re-read the file if it changed; calls the ``on_change`` callbacks with the
        old and new readings."""
        signature = self.file.signature()
        if signature == self._signature:
            return self._users
        try:
            users = self.file.read()
        except UsersFileError as error:
            if str(error) != self._failed_reload:
                self._failed_reload = str(error)
                _log.error("keeping the users as they were: %s", error)
            return self._users
        self._failed_reload = None
        self._signature = signature
        old, self._users = self._users, users
        for callback in tuple(self.on_change):
            try:
                callback(old, users)
            except Exception:
                _log.exception("a users-file change callback failed")
        return users

    async def authenticate(self, token: str | None) -> str | None:
        """The name of the user ``token`` belongs to, or ``None``."""
        if not token:
            return None
        parts = split_token(token)
        if parts is None:
            return None
        users = self.refresh()
        user = users.by_token_id.get(parts[0])
        if user is None:
            return None
        digest = hmac.new(self._key, token.encode(), hashlib.sha256).digest()
        if self._verified.get(digest) == user.token:
            return user.name
        async with self._parallel:
            ok = await asyncio.to_thread(user.token.matches, parts[1])
        if not ok:
            return None
        if len(self._verified) >= MAX_REMEMBERED:
            self._verified.clear()
        self._verified[digest] = user.token
        return user.name

    def revoked(self, user: str, token: str | None) -> str | None:
        """Why a connection made as ``user`` with ``token`` may no longer act (``None``:
        it still may), by the users as last read (``refresh`` first)."""
        record = self._users.by_name.get(user)
        if record is None:
            return f"the user {user} was removed"
        parts = split_token(token) if token else None
        if parts is None or parts[0] != record.token.id:
            return f"{user}'s token was replaced (users token --rotate)"
        return None
