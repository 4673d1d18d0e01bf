"""Netted positions, average-cost realized P&L, shorts, and the portfolio identity."""

from __future__ import annotations

import pytest

from workspace.errors import InvalidParams, NotFound
from workspace.trading import (
    AccountConfig,
    Balance,
    OrderStatus,
    OrderType,
    PositionStatus,
    PositionType,
)

from .scripted import D, Script, buy, sell


def _free(**kw: object) -> Script:
    return Script(config=AccountConfig(maker_fee=D(0), taker_fee=D(0), **kw))  # type: ignore[arg-type]


def test_adding_to_a_position_averages_the_entry_price() -> None:
    s = _free()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    s.trades("110")
    s.place(buy(OrderType.MARKET, "3"))
    (pos,) = s.account.positions
    assert (pos.quantity, pos.entry_price, pos.cost) == (D(4), D("107.5"), D(430))


def test_reducing_fill_realizes_pnl_at_average_cost() -> None:
    s = _free()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    s.trades("110")
    s.place(buy(OrderType.MARKET, "3"))
    s.trades("120")
    s.place(sell(OrderType.MARKET, "2"))
    (pos,) = s.account.positions
    assert pos.realized_pnl == D(25)  # 2 * (120 - 107.5)
    assert pos.quantity == D(2)
    assert pos.entry_price == D("107.5")
    assert pos.unrealized_pnl == D(25)
    assert s.account.portfolio().realized_pnl == D(25)


def test_fill_through_zero_closes_the_position_and_opens_the_reverse() -> None:
    s = _free(allow_short=True)
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    s.trades("90")
    s.place(sell(OrderType.MARKET, "3"))
    (closed,) = s.account.closed_positions
    (short,) = s.account.positions
    assert (closed.status, closed.realized_pnl) == (PositionStatus.CLOSED, D(-10))
    assert (short.type, short.quantity, short.entry_price) == (PositionType.SELL, D(2), D(90))
    assert short.id != closed.id


def test_short_position_is_marked_to_market_and_gains_when_price_falls() -> None:
    s = _free(allow_short=True)
    s.trades("100")
    s.place(sell(OrderType.MARKET, "2"))
    s.trades("95")
    (pos,) = s.account.positions
    assert (pos.current_price, pos.unrealized_pnl) == (D(95), D(10))
    p = s.account.portfolio()
    assert p.equity == D(10010)
    # the proceeds (200) and as much again as margin are held back: 10,000 stays free
    assert (p.balance, p.locked, p.available) == (D(10200), D(400), D(9800))
    assert s.account.balances()["BTC"] == Balance(free=D(-2), locked=D(0))


def test_short_selling_is_off_on_a_spot_account() -> None:
    s = _free()
    s.trades("100")
    order, _ = s.place(sell(OrderType.MARKET, "1"))
    assert (order.status, order.reason_code) == (OrderStatus.REJECTED, "WOULD_SHORT")
    s.place(buy(OrderType.MARKET, "1"))
    order, _ = s.place(sell(OrderType.MARKET, "1"))
    assert order.status is OrderStatus.FILLED


def test_equity_identity_holds_exactly_with_fees_and_awkward_prices() -> None:
    s = Script()
    s.trades("33.333")
    s.place(buy(OrderType.MARKET, "0.3"))
    s.trades("33.334")
    s.place(buy(OrderType.MARKET, "0.7"))
    s.trades("34.1")
    s.place(sell(OrderType.MARKET, "0.33"))  # cost split needs rounding: 1/3 of a cost
    s.trades("31.07")
    p = s.account.portfolio()
    assert p.equity == p.initial_balance + p.realized_pnl + p.unrealized_pnl - p.fees_paid
    assert p.total_pnl == p.realized_pnl + p.unrealized_pnl - p.fees_paid
    assert p.unrealized_pnl == s.account.revalue()


def test_close_position_raises_not_found_for_unknown_or_closed_and_invalid_for_too_much() -> None:
    s = _free()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    pos = s.account.positions[0]
    with pytest.raises(InvalidParams):
        s.account.close_position(pos.id, D(2), s.tick())
    with pytest.raises(NotFound):
        s.account.close_position("pos-999", None, s.tick())
    s.account.close_position(pos.id, None, s.tick())
    with pytest.raises(NotFound):
        s.account.close_position(pos.id, None, s.tick())


def test_positions_returned_are_copies_that_cannot_corrupt_the_account() -> None:
    s = _free()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    s.account.positions[0].quantity = D(1000)
    assert s.account.positions[0].quantity == D(1)


def test_symbols_in_use_are_those_with_open_orders_or_positions() -> None:
    s = _free()
    s.trades("100")
    s.trades("20", symbol="ETHUSDT")
    assert s.account.symbols_in_use() == set()
    assert not s.account.has_positions
    s.place(buy(OrderType.MARKET, "1"))
    s.place(buy(OrderType.LIMIT, "1", price="10", symbol="ETHUSDT"))
    assert s.account.symbols_in_use() == {"BTCUSDT", "ETHUSDT"}
    assert s.account.has_positions
