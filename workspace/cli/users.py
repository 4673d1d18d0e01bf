"""``python -m workspace users add|list|remove|token``: the users file of a multi-user
server (``serve --users FILE``, ``engine`` / ``gateway --users FILE``).

``add`` and ``token --rotate`` print the new token as their last line, once: only its
salted hash is stored, so it cannot be shown again, only replaced.  A running server
reads the change by itself (a removed user or a rotated token is refused from then
on, and that user's open connections are closed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from workspace.cli.serve import parse_balances
from workspace.errors import WorkspaceError
from workspace.trading.reasons import plain
from workspace.users import DEFAULT_BALANCES, User, UsersFile

HELP = "manage the users file of a multi-user server (tokens are stored hashed)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    def users_option(command: argparse.ArgumentParser) -> None:
        default = os.environ.get("WORKSPACE_USERS")
        command.add_argument(
            "--users",
            default=default,
            required=default is None,
            metavar="FILE",
            help="the users file (JSON; env WORKSPACE_USERS)",
        )

    sub = parser.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="create a user; prints its token as the last line")
    add.add_argument("name", help="1 to 32 of a-z 0-9 _ -, starting with a letter")
    add.add_argument(
        "--balance",
        action="append",
        default=None,
        metavar="ASSET=AMOUNT,...",
        help="what the user's account starts with, e.g. USDT=10000,BTC=0.5 (default "
        "USDT=10000; may be repeated, each asset once)",
    )
    users_option(add)
    listing = sub.add_parser("list", help="list the users (never their tokens)")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    users_option(listing)
    remove = sub.add_parser("remove", help="delete a user (their journal is kept)")
    remove.add_argument("name")
    users_option(remove)
    token = sub.add_parser("token", help="replace a user's token (--rotate)")
    token.add_argument("name")
    token.add_argument(
        "--rotate", action="store_true", help="make a new token; the old one stops working"
    )
    users_option(token)


def run(args: argparse.Namespace) -> int:
    users = UsersFile(args.users)
    try:
        match args.users_command:
            case "add":
                return _add(users, args.name, args.balance)
            case "list":
                return _list(users, as_json=args.json)
            case "remove":
                removed = users.remove(args.name)
                print(f"removed user {removed.name} from {users.path} (their journal is kept)")
                return 0
            case "token":
                if not args.rotate:
                    print(
                        "users token: tokens are stored hashed and cannot be shown again; "
                        "--rotate makes a new one",
                        file=sys.stderr,
                    )
                    return 2
                user, token = users.rotate(args.name)
                print(f"new token for {user.name} (the old one no longer works; shown once):")
                print(token)
                return 0
    except ValueError as error:  # bad input: a name, --balance, a user that exists
        print(f"users: {error}", file=sys.stderr)
        return 2
    except (WorkspaceError, OSError) as error:
        print(f"users: {error}", file=sys.stderr)
        return 1
    return 2  # pragma: no cover (argparse requires an action)


def _add(users: UsersFile, name: str, balance: list[str] | None) -> int:
    balances = parse_balances(balance) if balance is not None else dict(DEFAULT_BALANCES)
    user, token = users.add(name, balances)
    print(f"created user {user.name} in {users.path}, starting with {_balances(user)}")
    print("token (shown once: it is stored hashed and cannot be recovered, only rotated):")
    print(token)
    return 0


def _list(users: UsersFile, *, as_json: bool) -> int:
    found = users.read()
    if as_json:
        print(
            json.dumps(
                {
                    "file": str(users.path),
                    "users": [
                        {
                            "name": user.name,
                            "balances": {a: str(v) for a, v in user.balances.items()},
                            "created_at": user.created_at,
                            "token_id": user.token.id,
                            "token_rotated_at": user.token_rotated_at,
                        }
                        for user in found
                    ],
                }
            )
        )
        return 0
    if not len(found):
        print(f"no users in {users.path}")
        return 0
    width = max(len(name) for name in found.names)
    for name in found.names:
        user = found.get(name)
        rotated = f", token rotated {user.token_rotated_at}" if user.token_rotated_at else ""
        print(
            f"{name:<{width}}  {_balances(user)}  (created {user.created_at}, "
            f"token id {user.token.id}{rotated})"
        )
    return 0


def _balances(user: User) -> str:
    return ",".join(f"{asset}={plain(amount)}" for asset, amount in user.balances.items())
