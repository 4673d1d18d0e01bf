"""The users file: who may connect, with which token (hashed), starting with what.

A JSON document (``docs/scale-out.md``, "The users file")::

    {
      "version": 1,
      "users": {
        "alice": {
          "token": {"id": "3f9a0c1d2e4b", "scheme": "scrypt", "n": 16384, "r": 8, "p": 1,
                    "salt": "...", "hash": "..."},
          "balances": {"USDT": "10000", "BTC": "0.5"},
          "created_at": "2026-01-05T09:30:00Z",
          "token_rotated_at": null
        }
      }
    }

- Names: 1 to 32 of ``a-z 0-9 _ -``, starting with a letter (they name journal files
  and Redis keys); given in any case, kept in lower case.
- ``balances``: what a *new* account starts with (exact decimal strings; the quote
  asset, USDT, is the account's initial balance).  An account that already has a
  journal keeps the balances it was created with.
- Written atomically (a temporary file in the same folder, fsynced, renamed over the
  old one), with permissions 0600, under an exclusive lock on the folder, so two
  ``users`` commands at once cannot lose each other's change and a reader never sees
  half a file.  The file holds no token, only salted hashes; it still says who the
  users are, hence 0600 (a wider mode is reported when it is read).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import msgspec

from workspace.decimals import decimal_text
from workspace.errors import InvalidParams, NotFound, WorkspaceError
from workspace.trading.config import ASSET_RE, MAX_AMOUNT, AccountConfig
from workspace.users.tokens import TOKEN_ID_RE, TokenHash, new_token

_log = logging.getLogger("workspace.users")

FORMAT_VERSION = 1
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
DEFAULT_BALANCES: Mapping[str, str] = {"USDT": "10000"}
QUOTE = AccountConfig().quote_currency


class UsersFileError(WorkspaceError):
    """The users file cannot be read or written (missing, damaged, not ours)."""


class UnknownUser(NotFound):
    """No user of that name in the users file."""


class UserRecord(msgspec.Struct, frozen=True, kw_only=True):
    token: TokenHash
    balances: dict[str, str]
    created_at: str
    token_rotated_at: str | None = None


class UsersDocument(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    users: dict[str, UserRecord]


@dataclass(frozen=True, slots=True)
class User:
    name: str
    token: TokenHash
    balances: Mapping[str, Decimal]
    created_at: str
    token_rotated_at: str | None = None

    def account_config(self, base: AccountConfig | None = None) -> AccountConfig:
        """The config of this user's new account: ``base`` (fees, shorts ...) with this
        user's balances."""
        template = base if base is not None else AccountConfig()
        quote = template.quote_currency
        others = {asset: amount for asset, amount in self.balances.items() if asset != quote}
        try:
            return msgspec.structs.replace(
                template, initial_balance=self.balances.get(quote, Decimal(0)), balances=others
            )
        except ValueError as error:
            raise UsersFileError(f"user {self.name}: {error}") from None


@dataclass(frozen=True, slots=True)
class Users:
    """One reading of the users file."""

    by_name: Mapping[str, User]
    by_token_id: Mapping[str, User]

    def __iter__(self) -> Iterator[User]:
        return iter(self.by_name.values())

    def __len__(self) -> int:
        return len(self.by_name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.by_name

    def get(self, name: str) -> User:
        user = self.by_name.get(name)
        if user is None:
            raise UnknownUser(f"no user {name!r}")
        return user

    @property
    def names(self) -> list[str]:
        return sorted(self.by_name)


def normalize_name(name: str) -> str:
    """``name`` in lower case; raises ``InvalidParams`` unless it is a valid user name."""
    if not isinstance(name, str):
        raise InvalidParams(f"a user name is a string, got {name!r:.40}")
    lowered = name.strip().lower()
    if not NAME_RE.match(lowered):
        raise InvalidParams(
            f"user name {name!r}: 1 to 32 of a-z, 0-9, '_' and '-', starting with a letter"
        )
    return lowered


def parse_balances(values: Mapping[str, object]) -> dict[str, Decimal]:
    """``{"USDT": "10000", "btc": 0.5}`` -> exact Decimals keyed by upper-case asset;
    raises ``InvalidParams``."""
    balances: dict[str, Decimal] = {}
    for asset, amount in values.items():
        name = str(asset).strip().upper()
        if not ASSET_RE.match(name):
            raise InvalidParams(f"balances: {asset!r} is not an asset name")
        try:
            value = decimal_text(str(amount))
        except InvalidOperation:
            raise InvalidParams(f"balances: {asset}: {amount!r} is not a number") from None
        if not value.is_finite() or value < 0:
            raise InvalidParams(f"balances: {asset}: {amount!r} is not an amount >= 0")
        if value >= MAX_AMOUNT:
            raise InvalidParams(f"balances: {asset}: {amount!r} is not below 1e30")
        if name in balances:  # {"usdt": 5, "USDT": 6}: the last one won, silently
            raise InvalidParams(f"balances: {name} is given twice: give each asset once")
        balances[name] = value
    if not any(balances.values()):
        raise InvalidParams("balances: the account must start with something (> 0)")
    return balances


class UsersFile:
    """The users file at ``path``: reads, and the changes the ``users`` command makes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()

    # -- reading ---------------------------------------------------------------------------
    def read(self) -> Users:
        """The users, checked.  Raises ``UsersFileError`` (missing, damaged)."""
        try:
            data = self.path.read_bytes()
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            raise UsersFileError(
                f"no users file at {self.path} (create one with "
                f"`python -m workspace users add NAME --users {self.path}`)"
            ) from None
        except OSError as error:
            raise UsersFileError(f"cannot read users file {self.path}: {error}") from error
        if stat.S_IMODE(mode) & 0o077:
            _log.warning(
                "users file %s is readable by others (mode %o): chmod 600 it",
                self.path,
                stat.S_IMODE(mode),
            )
        return self._parse(data)

    def signature(self) -> tuple[int, int, int] | None:
        """What changes when the file is rewritten (inode, size, mtime): a server
        reloads the file when it differs.  ``None`` when the file is missing."""
        try:
            info = self.path.stat()
        except OSError:
            return None
        return info.st_ino, info.st_size, info.st_mtime_ns

    def _parse(self, data: bytes) -> Users:
        try:
            document = msgspec.json.decode(data, type=UsersDocument)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise UsersFileError(f"users file {self.path} is damaged: {error}") from None
        if document.version != FORMAT_VERSION:
            raise UsersFileError(
                f"users file {self.path} has format version {document.version}; this code "
                f"reads version {FORMAT_VERSION}"
            )
        by_name: dict[str, User] = {}
        by_token_id: dict[str, User] = {}
        for name, record in document.users.items():
            problem = f"users file {self.path}: user {name!r}"
            if not NAME_RE.match(name):
                raise UsersFileError(f"{problem}: not a valid user name")
            if not TOKEN_ID_RE.match(record.token.id):
                raise UsersFileError(f"{problem}: damaged token id")
            try:
                balances = parse_balances(record.balances)
            except InvalidParams as error:
                raise UsersFileError(f"{problem}: {error}") from None
            user = User(
                name=name,
                token=record.token,
                balances=balances,
                created_at=record.created_at,
                token_rotated_at=record.token_rotated_at,
            )
            if record.token.id in by_token_id:
                raise UsersFileError(f"{problem}: shares its token id with another user")
            by_name[name] = user
            by_token_id[record.token.id] = user
        return Users(by_name=by_name, by_token_id=by_token_id)

    # -- changing ----------------------------------------------------------------------------
    def add(self, name: str, balances: Mapping[str, object] | None = None) -> tuple[User, str]:
        """Create user ``name``; returns it and its token (shown once, never stored).
        Creates the file when missing.  Raises ``InvalidParams`` (bad name or balances,
        the user exists)."""
        name = normalize_name(name)
        amounts = parse_balances(balances if balances is not None else DEFAULT_BALANCES)
        with self._locked() as document:
            if name in document:
                raise InvalidParams(f"user {name!r} exists (rotate its token instead)")
            token, hashed = self._fresh_token(document)
            document[name] = UserRecord(
                token=hashed,
                balances={asset: str(amount) for asset, amount in amounts.items()},
                created_at=_now(),
            )
        return self.read().get(name), token

    def remove(self, name: str) -> User:
        """Delete user ``name`` (its journal stays where it is)."""
        name = normalize_name(name)
        with self._locked(must_exist=True) as document:
            if name not in document:
                raise UnknownUser(f"no user {name!r} in {self.path}")
            removed = self._parse_one(name, document.pop(name))
        return removed

    def rotate(self, name: str) -> tuple[User, str]:
        """Give user ``name`` a new token (the old one stops working at once on every
        server that reads this file); returns the user and the new token."""
        name = normalize_name(name)
        with self._locked(must_exist=True) as document:
            record = document.get(name)
            if record is None:
                raise UnknownUser(f"no user {name!r} in {self.path}")
            token, hashed = self._fresh_token(document)
            document[name] = msgspec.structs.replace(record, token=hashed, token_rotated_at=_now())
        return self.read().get(name), token

    @staticmethod
    def _fresh_token(document: Mapping[str, UserRecord]) -> tuple[str, TokenHash]:
        used = {record.token.id for record in document.values()}
        while True:  # 48 random bits: a clash is a curiosity, but never share an id
            token, hashed = new_token()
            if hashed.id not in used:
                return token, hashed

    def _parse_one(self, name: str, record: UserRecord) -> User:
        return User(
            name=name,
            token=record.token,
            balances=parse_balances(record.balances),
            created_at=record.created_at,
            token_rotated_at=record.token_rotated_at,
        )

    @contextlib.contextmanager
    def _locked(self, *, must_exist: bool = False) -> Iterator[dict[str, UserRecord]]:
        """Read-modify-write under an exclusive lock on the file's folder; the dict the
        block changes is written back atomically when it ends without an error."""
        folder = self.path.parent
        if not folder.is_dir():
            raise UsersFileError(f"no folder {folder} for the users file")
        fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if self.path.exists():
                document = dict(self._document().users)
            elif must_exist:
                raise UsersFileError(f"no users file at {self.path}")
            else:
                document = {}
            yield document
            self._write(document)
        finally:
            os.close(fd)  # drops the lock

    def _document(self) -> UsersDocument:
        self.read()  # every check, before anything is changed
        return msgspec.json.decode(self.path.read_bytes(), type=UsersDocument)

    def _write(self, users: Mapping[str, UserRecord]) -> None:
        document = UsersDocument(version=FORMAT_VERSION, users=dict(sorted(users.items())))
        data = msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n"
        folder = self.path.parent
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=folder)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        directory = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
