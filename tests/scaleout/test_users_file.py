"""The users file and the ``users`` command: tokens stored hashed, shown once, checked
in constant time; atomic writes with mode 0600; a running directory sees changes."""

from __future__ import annotations

import io
import json
import os
import stat
from contextlib import redirect_stdout
from decimal import Decimal
from pathlib import Path

import pytest

from workspace.__main__ import main
from workspace.errors import InvalidParams
from workspace.trading import AccountConfig
from workspace.users import UserDirectory, UsersFile, UsersFileError, split_token


def run_cli(*argv: str) -> tuple[int, list[str]]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue().splitlines()


def test_add_prints_the_token_last_and_stores_only_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    code, lines = run_cli(
        "users", "add", "Alice", "--users", str(path), "--balance", "USDT=5000,btc=0.5"
    )
    assert code == 0
    token = lines[-1]
    assert split_token(token) is not None
    text = path.read_text()
    assert token not in text
    assert token.split(".")[1] not in text
    user = UsersFile(path).read().get("alice")
    assert user.balances == {"USDT": Decimal("5000"), "BTC": Decimal("0.5")}
    assert user.token.matches(token.split(".")[1])
    assert not user.token.matches(token.split(".")[1][:-1] + "x")
    config = user.account_config()
    assert config.initial_balance == Decimal("5000")
    assert config.balances == {"BTC": Decimal("0.5")}


def test_file_is_written_with_mode_0600_and_nothing_left_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    run_cli("users", "add", "alice", "--users", str(path))
    run_cli("users", "add", "bob", "--users", str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["users.json"]
    document = json.loads(path.read_text())
    assert document["version"] == 1
    assert sorted(document["users"]) == ["alice", "bob"]


def test_list_remove_and_rotate(tmp_path: Path) -> None:
    path = str(tmp_path / "users.json")
    _, lines = run_cli("users", "add", "alice", "--users", path)
    old = lines[-1]
    run_cli("users", "add", "bob", "--users", path)
    code, lines = run_cli("users", "list", "--users", path, "--json")
    listed = json.loads(lines[-1])
    assert code == 0
    assert [u["name"] for u in listed["users"]] == ["alice", "bob"]
    assert old not in lines[-1]
    code, lines = run_cli("users", "token", "alice", "--rotate", "--users", path)
    new = lines[-1]
    assert code == 0
    assert new != old
    alice = UsersFile(path).read().get("alice")
    assert alice.token.matches(new.split(".")[1])
    assert not alice.token.matches(old.split(".")[1])
    assert alice.token_rotated_at is not None
    code, _ = run_cli("users", "remove", "bob", "--users", path)
    assert code == 0
    assert UsersFile(path).read().names == ["alice"]


def test_bad_input_is_refused_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "users.json")
    assert main(["users", "add", "9lives", "--users", path]) == 2
    assert "user name" in capsys.readouterr().err
    assert main(["users", "add", "carol", "--users", path, "--balance", "USDT=-5"]) == 2
    assert main(["users", "add", "carol", "--users", path]) == 0
    assert main(["users", "add", "CAROL", "--users", path]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["users", "remove", "dave", "--users", path]) == 1
    assert main(["users", "token", "carol", "--users", path]) == 2  # no --rotate: cannot show it
    assert not Path(path + ".tmp").exists()


def test_balances_stay_below_1e30_and_are_listed_as_people_write_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1e99 BTC was taken (and listed as "BTC=1E+99"): an account no client could have
    sent that number for (the protocol's bound is 1e30)."""
    path = str(tmp_path / "users.json")
    assert main(["users", "add", "bob", "--users", path, "--balance", "BTC=1e99"]) == 2
    assert "balances: BTC: '1e99' is not below 1e30" in capsys.readouterr().err
    assert main(["users", "add", "bob", "--users", path, "--balance", "USDT=1_000"]) == 2
    assert "balances: USDT: '1_000' is not a number" in capsys.readouterr().err
    code, lines = run_cli("users", "add", "bob", "--users", path, "--balance", "BTC=1e20,USDT=5.50")
    assert code == 0
    assert "starting with BTC=100000000000000000000,USDT=5.5" in lines[0]
    with pytest.raises(ValueError, match="initial_balance must be below 1e30"):
        AccountConfig(initial_balance=Decimal("1e30"))
    with pytest.raises(ValueError, match=r"balances\[BTC\] must be below 1e30"):
        AccountConfig(balances={"BTC": Decimal("1e31")})


def test_a_damaged_file_is_an_error_never_an_empty_list(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text('{"version": 1, "users": {"alice": {"balances": {}}}}')
    with pytest.raises(UsersFileError, match="damaged"):
        UsersFile(path).read()
    path.write_text('{"version": 7, "users": {}}')
    with pytest.raises(UsersFileError, match="version 7"):
        UsersFile(path).read()
    with pytest.raises(UsersFileError, match="no users file"):
        UsersFile(tmp_path / "missing.json").read()
    with pytest.raises(InvalidParams):
        UsersFile(tmp_path / "other.json").add("alice", {"USDT": "0"})


async def test_directory_authenticates_and_sees_rotation_and_removal(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    users = UsersFile(path)
    _, alice_token = users.add("alice")
    _, bob_token = users.add("bob")
    directory = UserDirectory(users)
    changes: list[tuple[list[str], list[str]]] = []
    directory.on_change.append(lambda old, new: changes.append((old.names, new.names)))
    assert await directory.authenticate(alice_token) == "alice"
    assert await directory.authenticate(alice_token) == "alice"  # remembered: no second scrypt
    assert await directory.authenticate(bob_token) == "bob"
    assert await directory.authenticate(alice_token[:-2] + "zz") is None
    assert await directory.authenticate("not-a-token") is None
    assert await directory.authenticate(None) is None
    assert directory.revoked("alice", alice_token) is None
    _, rotated = users.rotate("alice")
    assert await directory.authenticate(alice_token) is None
    assert await directory.authenticate(rotated) == "alice"
    # what a connection opened with the old token is told when the server closes it
    assert directory.revoked("alice", alice_token) == (
        "alice's token was replaced (users token --rotate)"
    )
    assert directory.revoked("alice", rotated) is None
    assert directory.revoked("alice", None) is not None
    users.remove("bob")
    assert await directory.authenticate(bob_token) is None
    assert directory.revoked("bob", bob_token) == "the user bob was removed"
    assert changes[-1] == (["alice", "bob"], ["alice"])
    # a file broken by hand keeps the last good reading (logged), never locks everyone out
    os.chmod(path, 0o600)
    path.write_text("{not json")
    assert await directory.authenticate(rotated) == "alice"


def test_an_asset_given_twice_is_refused_not_the_last_one_taken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--balance USDT=5000 --balance BTC=1`` kept only the last flag (an account with
    no USDT), and ``USDT=5,usdt=6`` or ``{"usdt": 5, "USDT": 6}`` only the last amount."""
    path = str(tmp_path / "users.json")
    for given in (["USDT=5,usdt=6"], ["USDT=5", "USDT=6"]):
        flags = [arg for value in given for arg in ("--balance", value)]
        assert main(["users", "add", "bob", "--users", path, *flags]) == 2
        assert "USDT is given twice (5 and 6): give each asset once" in capsys.readouterr().err
    code, _ = run_cli(
        "users", "add", "bob", "--users", path, "--balance", "USDT=5000", "--balance", "BTC=1"
    )
    assert code == 0
    bob = UsersFile(path).read().get("bob")
    assert bob.balances == {"USDT": Decimal(5000), "BTC": Decimal(1)}
    with pytest.raises(InvalidParams, match="USDT is given twice"):
        UsersFile(path).add("carol", {"usdt": 5, "USDT": 6})
