"""Journal first: a step the journal refuses leaves the account exactly as it was.

Random price paths and commands (the account property test's steps: every order type,
OCO, brackets, trailing stops, closes, waits) on a spot and a margin-style account
whose journal refuses a random subset of steps.  After each refused step the account's
whole state (every order and leg, the open-order order, client ids, the trigger index,
waiting market orders, exits, the wallet to the last Decimal digit, marks and their
running totals, positions, fills, id counters, P&L totals) equals a twin that only saw
the step's prices; the retried step produces the very events the refused one did
(same ids); a reference account that never failed produced the same events; and the
journal's events rebuild the account.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.trading.scripted import book, ticker, trade
from tests.trading.test_properties import MARGIN, RULES, SPOT, START, _at, _request, modes, step
from workspace.market.records import MarketRecord
from workspace.trading import Account, AccountEvent, OrderRequest, OrderType, Side
from workspace.trading.orders import LegRole


class Refused(Exception):
    """The journal said no."""


class Sink:
    """A journal stand-in: keeps what it accepts, refuses when told to."""

    def __init__(self) -> None:
        self.refuse = False
        self.kept: list[AccountEvent] = []
        self.offered: list[AccountEvent] = []

    def __call__(self, events: list[AccountEvent]) -> None:
        self.offered = list(events)
        if self.refuse:
            raise Refused("disk full")
        self.kept += events


def _dec(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def fingerprint(account: Account) -> dict[str, Any]:
    """Everything an account holds, its Decimals as strings (the exact digits, not just
    equal values); the trigger index per level set (the order among equal levels is
    not state: fire serves them in placement order)."""
    store = account.store
    index = store._index
    marks = account._marks
    marks._settle()

    def books(side: dict[str, Any]) -> dict[str, Any]:
        return {s: sorted(zip(b.levels, b.ids, strict=True)) for s, b in side.items() if len(b)}

    return {
        "orders": list(store._orders.items()),
        "open": list(store._open.items()),
        "parent_of": dict(store._parent_of),
        "client_ids": dict(store._client_ids),
        "waiting": {s: dict(v) for s, v in store._waiting.items()},
        "exits": {s: dict(v) for s, v in store._exits.items()},
        "final": list(store._final),
        "rising": books(index._rising),
        "falling": books(index._falling),
        "where": dict(index._where),
        "trailing": {s: dict(v) for s, v in index._trailing.items() if v},
        "trailing_symbol": dict(index._trailing_symbol),
        "total": {a: _dec(v) for a, v in account.wallet._total.items()},
        "locked": {a: _dec(v) for a, v in account.wallet._locked.items()},
        "marks": (
            dict(marks._slot),
            list(marks._symbols),
            [_dec(x) for x in marks._qty],
            [_dec(x) for x in marks._cost],
            [_dec(x) for x in marks._price],
            [msgspec.structs.asdict(q) for q in marks._quotes],
            _dec(marks._total),
            _dec(marks._net_cost),
        ),
        "positions": list(account._positions.items()),
        "by_id": list(account._position_by_id.items()),
        "closed": list(account._closed),
        "fills": list(account._fills),
        "fill_count": account.fill_count,
        "ids": (account.ids.order, account.ids.fill, account.ids.position, account.ids.seq_no),
        "realized": _dec(account._realized),
        "fees": _dec(account._fees),
        "initial": _dec(account._initial_value),
        "unvalued": list(account._unvalued.items()),
        "quotes": {s: msgspec.structs.asdict(q) for s, q in account._quotes.items()},
        "now_ms": account.now_ms,
    }


def _without_prices(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k not in ("quotes", "now_ms", "marks")}


def _booked(account: Account) -> dict[str, Any]:
    """What a rebuild must reproduce (prices are not journaled tick by tick)."""
    state = fingerprint(account)
    for key in ("marks", "quotes", "now_ms", "positions", "rising", "falling", "where"):
        state.pop(key)
    state["portfolio"] = {
        k: v
        for k, v in msgspec.structs.asdict(account.portfolio()).items()
        if k not in ("equity", "unrealized_pnl", "total_pnl")
    }
    state["open_positions"] = sorted(p.id for p in account.positions)
    return state


class Step(NamedTuple):
    """One step an account took: in full, or only its prices (a refused step)."""

    full: bool
    what: str
    payload: Any
    t: int
    prices: dict[str, Decimal]


def twin(config: Any, rules: Any, history: list[Step]) -> Account:
    """An account that took ``history``'s steps from the start without a journal: what
    the live account must equal.  (Built by replaying, not by copying the live one: the
    compiled account core's classes are not copyable, and a replay shares no state.)"""
    account = Account(config, rules=rules)
    driver = Driver()
    for taken in history:
        driver.t, driver.prices = taken.t, dict(taken.prices)
        if taken.full:
            driver.run(account, taken.what, taken.payload)
        else:
            driver.prices_only(account, taken.what, taken.payload)
    return account


class Driver:
    """Turns the property test's steps into account calls, with the same prices for
    every account it drives."""

    def __init__(self) -> None:
        self.prices = {"BTCUSDT": Decimal("100.00"), "ETHUSDT": Decimal("20.00")}
        self.t = 1_000

    def next(self, s: Any) -> tuple[str, Any]:
        """("market", record) / ("wait", t) / ("command", s) for step ``s``, at its time."""
        self.t += 1
        kind = s[0]
        if kind in ("trade", "ticker"):
            symbol = s[1]
            self.prices[symbol] = max(Decimal("0.01"), _at(self.prices[symbol], s[2]))
            p = self.prices[symbol]
            if kind == "trade":
                return "market", trade(p, self.t, symbol)
            return "market", ticker(
                str(p), str(p - Decimal("0.01")), str(p + Decimal("0.01")), symbol
            )
        if kind == "book":
            p = self.prices[s[1]]
            spread = Decimal(s[2]) / 100
            return "market", book(str(p - spread), str(p + spread), s[1])
        if kind == "wait":
            self.t += s[1] * 1000
            return "wait", self.t
        return "command", s

    def run(self, account: Account, what: str, payload: Any) -> list[AccountEvent]:
        t = self.t
        if what == "market":
            return account.on_market(payload, t)
        if what == "wait":
            return account.expire(payload)
        s = payload
        if s[0] == "place":
            _, symbol, side, kind, quantity, offs, trail = s
            request = _request(symbol, side, kind, quantity, offs, trail, self.prices[symbol])
            return account.place(request, t)[1]
        if s[0] == "cancel":
            live = account.open_orders
            return account.cancel(live[s[1] % len(live)].id, t)[1] if live else []
        positions = account.positions
        if not positions:
            return []
        position = positions[s[1] % len(positions)]
        part = None if s[2] else (position.quantity / 2).quantize(Decimal("0.01"))
        if part is not None and part <= 0:
            return []
        return account.close_position(position.id, part, t)[1]

    def prices_only(self, account: Account, what: str, payload: Any) -> None:
        """What a refused step leaves behind: its prices (facts, not account state)
        and the time the account was told about."""
        account.suspended = True
        try:
            if what == "market":
                account.on_market(payload, self.t)
            elif what == "wait":
                account.expire(payload)
            else:
                account.now_ms = max(account.now_ms, self.t)
        finally:
            account.suspended = False


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(modes, st.lists(step, min_size=1, max_size=50), st.lists(st.booleans(), min_size=1))
def test_a_refused_step_is_taken_back_whole_and_the_retry_makes_the_same_events(
    mode: str, steps: list[Any], refusals: list[bool]
) -> None:
    config, rules = (SPOT, RULES) if mode == "spot" else (MARGIN, None)
    live = Account(config, rules=rules)
    sink = Sink()
    live.attach_journal(sink)
    reference = Account(config, rules=rules)  # no journal: every step counts at once
    driver = Driver()
    history: list[Step] = []  # what ``live`` has done, to build its twin from
    refused_steps = 0
    for i, s in enumerate([*START, *steps]):
        what, payload = driver.next(s)
        expected = driver.run(reference, what, payload)
        full = Step(True, what, payload, driver.t, dict(driver.prices))
        if refusals[i % len(refusals)]:
            sink.refuse = True
            try:
                attempted = driver.run(live, what, payload)
            except Refused:
                refused_steps += 1
                prices = Step(False, what, payload, driver.t, dict(driver.prices))
                history.append(prices)
                assert fingerprint(live) == fingerprint(twin(config, rules, history))
                attempted = sink.offered
            else:
                history.append(full)  # nothing to journal: the step counted
            finally:
                sink.refuse = False
            if history[-1] is not full and attempted:
                # the retry: same inputs, same events, same ids
                assert driver.run(live, what, payload) == attempted
                history.append(full)
        else:
            attempted = driver.run(live, what, payload)
            history.append(full)
        assert attempted == expected
        assert _booked(live) == _booked(reference)
    rebuilt = Account(config, rules=rules)
    for event in sink.kept:
        rebuilt.apply(event)
    assert _booked(rebuilt) == _booked(live)
    assert refused_steps >= 0


def _bracket_account() -> tuple[Account, Sink]:
    account = Account(SPOT, rules=RULES)
    sink = Sink()
    account.attach_journal(sink)
    account.on_market(trade("100.00", 1), 1)
    request = OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.BRACKET,
        quantity=Decimal(2),
        price=Decimal("99.00"),
        take_profit=Decimal("99.50"),  # already crossed when the entry fills at a gap
        stop_loss=Decimal("95.00"),
        trail_percent=Decimal(1),
    )
    order, _ = account.place(request, 2)
    assert order.status.value == "NEW"
    return account, sink


def test_a_bracket_fill_sequence_refused_midway_leaves_entry_exits_and_wallet_untouched() -> None:
    """The entry fills, the exits go live and lock the bought asset, the take-profit is
    crossed at once and fills, the stop is canceled: one step of many events.  Refused,
    none of it happened; the next price fires it again, exactly."""
    account, sink = _bracket_account()
    account.on_market(book("99.60", "99.62"), 3)  # the take-profit's side is past 99.50
    before = fingerprint(account)
    sink.refuse = True
    with pytest.raises(Refused):
        account.on_market(trade("98.90", 3), 3)
    refused = sink.offered
    kinds = [e.kind for e in refused]
    # entry fill (the exits go live in its order event), then the take-profit's fill
    # (the stop canceled, the bracket FILLED, in its order event)
    assert kinds == ["fill", "position", "order", "fill", "position", "order"], kinds
    after = fingerprint(account)
    assert after["orders"] == before["orders"]
    assert after["total"] == before["total"]
    assert after["locked"] == before["locked"]
    assert after["positions"] == before["positions"] == []
    assert after["ids"] == before["ids"]
    group = account.open_orders[0]
    assert [leg.status.value for leg in group.legs] == ["NEW", "PENDING_NEW", "PENDING_NEW"]
    # the entry waits in the trigger index again: the next trade through it fires it
    sink.refuse = False
    again = account.on_market(trade("98.90", 3), 3)
    assert again == refused
    final = account.order(group.id)
    assert final.status.value == "FILLED"
    assert final.leg_by_role(LegRole.TAKE_PROFIT) is not None
    assert sink.kept[-len(again) :] == again


def _market_record(symbol: str, price: str, t: int) -> MarketRecord:
    return trade(price, t, symbol)


def test_a_suspended_account_moves_prices_but_fires_nothing() -> None:
    account, _sink = _bracket_account()
    account.suspended = True
    assert account.on_market(_market_record("BTCUSDT", "90.00", 5), 5) == []
    assert account.quote("BTCUSDT").last == Decimal("90.00")
    assert account.open_orders[0].legs[0].status.value == "NEW"
    account.suspended = False
    assert account.on_market(_market_record("BTCUSDT", "90.00", 6), 6)  # fires now


def test_an_older_order_that_filled_in_a_refused_step_goes_back_to_its_place() -> None:
    """Open orders are kept in placement order (what a rebuild gives): taking back the
    fill of the older of two limits puts it back before the newer one."""
    account = Account(SPOT, rules=RULES)
    sink = Sink()
    account.attach_journal(sink)
    account.on_market(trade("100.00", 1), 1)
    for price in ("99.00", "98.00"):
        request = OrderRequest(
            symbol="BTCUSDT",
            side=Side.BUY,
            type=OrderType.LIMIT,
            quantity=Decimal(1),
            price=Decimal(price),
        )
        account.place(request, 2)
    before = _without_prices(fingerprint(account))
    sink.refuse = True
    with pytest.raises(Refused):
        account.on_market(trade("98.50", 3), 3)  # fills the older one only
    assert _without_prices(fingerprint(account)) == before
    assert [o.price for o in account.open_orders] == [Decimal("99.00"), Decimal("98.00")]


def test_the_store_puts_back_what_fire_took_out_of_the_trigger_index() -> None:
    """An order the index gave up during a step (whatever the step then did with it)
    is back in the index after the step is taken back."""
    account = Account(SPOT, rules=RULES)
    account.on_market(trade("100.00", 1), 1)
    request = OrderRequest(
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal(1),
        price=Decimal("99.00"),
    )
    order, _ = account.place(request, 2)
    store = account.store
    store.begin()
    assert store.fire("BTCUSDT", Decimal("98")) == [(order.seq_no, order.id)]
    assert not store.may_fire("BTCUSDT", Decimal("98"))
    store.rollback()
    assert store.may_fire("BTCUSDT", Decimal("98"))
    assert store.fire("BTCUSDT", Decimal("98")) == [(order.seq_no, order.id)]


def test_a_position_closed_in_a_refused_step_keeps_its_place_among_the_open_ones() -> None:
    account = Account(SPOT, rules=RULES)
    sink = Sink()
    account.attach_journal(sink)
    for symbol, price in (("BTCUSDT", "100.00"), ("ETHUSDT", "20.00")):
        account.on_market(trade(price, 1, symbol), 1)
        request = OrderRequest(
            symbol=symbol, side=Side.BUY, type=OrderType.MARKET, quantity=Decimal(1)
        )
        account.place(request, 1)
    first = [p.symbol for p in account.positions]
    assert first[0] == "BTCUSDT"
    before = _without_prices(fingerprint(account))
    sink.refuse = True
    with pytest.raises(Refused):
        account.close_position(account.positions[0].id, None, 2)
    assert _without_prices(fingerprint(account)) == before
    assert [p.symbol for p in account.positions] == first
