"""Users of a multi-user server: the users file, tokens (hashed), and the directory a
running server authenticates against.  See docs/scale-out.md, "Users"."""

from workspace.users.directory import UserDirectory
from workspace.users.store import (
    DEFAULT_BALANCES,
    UnknownUser,
    User,
    Users,
    UsersFile,
    UsersFileError,
    normalize_name,
    parse_balances,
)
from workspace.users.tokens import TokenHash, new_token, split_token

__all__ = [
    "DEFAULT_BALANCES",
    "TokenHash",
    "UnknownUser",
    "User",
    "UserDirectory",
    "Users",
    "UsersFile",
    "UsersFileError",
    "new_token",
    "normalize_name",
    "parse_balances",
    "split_token",
]
