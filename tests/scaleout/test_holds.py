"""The market engine's ledger of what gateways and other shards hold, leased
(``workspace/scaleout/holds.py``): pure bookkeeping, so tested directly."""

from __future__ import annotations

import pytest

from workspace.scaleout.holds import Hold, Holds, parse_holds

BTC: Hold = ("symbol", "BTCUSDT")
ETH: Hold = ("symbol", "ETHUSDT")
BTC_BOOK: Hold = ("book", "BTCUSDT")
NOPE: Hold = ("symbol", "NOPEUSDT")


def test_a_holder_holds_a_name_once_and_releases_only_what_it_holds() -> None:
    holds = Holds(ttl_s=10)
    assert holds.acquired("gw-a", BTC, now=0)
    assert not holds.acquired("gw-a", BTC, now=1)  # a retry: no second reference
    assert holds.acquired("gw-b", BTC, now=1)  # another holder: its own reference
    assert holds.released("gw-a", BTC, now=2)
    assert not holds.released("gw-a", BTC, now=3)  # twice: the second releases nothing
    assert not holds.released("gw-c", BTC, now=3)  # never held it
    assert holds.holders() == {"gw-a": [], "gw-b": [BTC]}


def test_a_renewal_is_the_truth_books_come_after_their_symbols() -> None:
    holds = Holds(ttl_s=10)
    holds.acquired("gw-a", BTC, now=0)
    holds.acquired("gw-a", BTC_BOOK, now=0)
    renewal = holds.renew("gw-a", [BTC, ETH], now=1)  # the book's release was lost
    assert renewal.acquire == (ETH,)
    assert renewal.release == (BTC_BOOK,)
    assert holds.holders() == {"gw-a": [BTC, ETH]}
    again = holds.renew("gw-a", [BTC_BOOK, ETH, BTC], now=2)
    assert again.acquire == (BTC_BOOK,)
    assert again.release == ()
    everything = holds.renew("gw-a", [], now=3)
    assert everything.acquire == ()
    assert everything.release == (BTC_BOOK, ETH, BTC)


def test_a_holder_silent_longer_than_the_lease_loses_everything_once() -> None:
    holds = Holds(ttl_s=10)
    holds.acquired("gw-a", BTC, now=0)
    holds.acquired("gw-a", BTC_BOOK, now=0)
    holds.acquired("gw-b", ETH, now=0)
    holds.renew("gw-b", [ETH], now=8)
    assert holds.expire(now=10) == {}  # exactly the lease: still alive
    assert holds.expire(now=10.5) == {"gw-a": (BTC_BOOK, BTC)}  # books first
    assert holds.expire(now=11) == {}
    assert not holds.released("gw-a", BTC, now=12)  # its late release takes nothing
    assert holds.holders() == {"gw-b": [ETH]}
    # it wakes up: its next renewal acquires again what it still holds
    assert holds.renew("gw-a", [BTC], now=13).acquire == (BTC,)


def test_a_failed_acquire_is_not_held() -> None:
    holds = Holds(ttl_s=10)
    renewal = holds.renew("gw-a", [BTC, NOPE], now=0)
    assert renewal.acquire == (BTC, NOPE)
    holds.failed("gw-a", NOPE)
    assert holds.holders() == {"gw-a": [BTC]}
    # the next renewal asks for it again (it may be listed by then)
    assert holds.renew("gw-a", [BTC, NOPE], now=1).acquire == (NOPE,)


def test_the_lease_must_be_positive() -> None:
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="more than 0"):
            Holds(ttl_s=bad)


def test_renewal_lists_are_checked() -> None:
    assert parse_holds({"symbol": ["btcusdt"], "book": ["BTCUSDT"]}) == [BTC, BTC_BOOK]
    assert parse_holds({}) == []
    bads: tuple[object, ...] = (
        None,
        [],
        {"symbol": "BTCUSDT"},
        {"symbol": [1]},
        {"symbol": [""]},
        {"x": []},
    )
    for bad in bads:
        with pytest.raises(ValueError, match="holds"):
            parse_holds(bad)
