"""The spot wallet: balances per asset, what open orders lock, what fills move, the
assets the account starts with, and a portfolio that adds up (PROTOCOL v2)."""

from __future__ import annotations

from decimal import Decimal

from workspace.trading import Balance, OrderStatus, OrderType, ValuationEvent

from .scripted import D, Script, buy, sell


def test_a_buy_moves_quote_out_and_base_in_and_the_fee_out_of_the_quote() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "2"))  # 200 USDT + 0.2 fee
    assert s.account.balances() == {
        "BTC": Balance(free=D(2), locked=D(0)),
        "USDT": Balance(free=D("9799.8"), locked=D(0)),
    }
    s.trades("110")
    s.place(sell(OrderType.MARKET, "2"))  # 220 USDT - 0.22 fee
    assert s.account.balances() == {"USDT": Balance(free=D("10019.58"), locked=D(0))}
    p = s.account.portfolio()
    assert (p.realized_pnl, p.fees_paid, p.total_pnl) == (D(20), D("0.42"), D("19.58"))


def test_a_resting_buy_locks_quote_with_its_fee_and_a_resting_sell_locks_the_base() -> None:
    s = Script(balances={"BTC": D(1)})
    s.trades("100")
    limit, _ = s.place(buy(OrderType.LIMIT, "1", price="90"))
    stop, _ = s.place(sell(OrderType.STOP_LOSS, "0.4", stop_price="95"))
    assert (limit.reserved, limit.reserved_asset) == (D("90.09"), "USDT")
    assert (stop.reserved, stop.reserved_asset) == (D("0.4"), "BTC")
    assert s.account.balances() == {
        "BTC": Balance(free=D("0.6"), locked=D("0.4")),
        "USDT": Balance(free=D("9909.91"), locked=D("90.09")),
    }
    p = s.account.portfolio()
    assert (p.available, p.locked) == (D("9909.91"), D("90.09"))


def test_an_oco_sell_locks_the_base_once_for_both_legs() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "1"))
    oco, _ = s.place(sell(OrderType.OCO, "1", take_profit="110", stop_price="95"))
    assert (oco.reserved, oco.reserved_asset) == (D(1), "BTC")
    assert s.account.balances()["BTC"] == Balance(free=D(0), locked=D(1))
    s.trades("110.5")
    assert s.order(oco.id).status is OrderStatus.FILLED
    assert "BTC" not in s.account.balances()


def test_a_bracket_buy_locks_quote_for_its_entry_then_the_base_for_its_exits() -> None:
    s = Script()
    s.trades("100")
    bracket, _ = s.place(buy(OrderType.BRACKET, "1", price="99", take_profit="110", stop_loss="95"))
    assert (bracket.reserved, bracket.reserved_asset) == (D("99.099"), "USDT")
    s.trades("98.5")  # the entry fills at its limit
    live = s.order(bracket.id)
    assert (live.reserved, live.reserved_asset) == (D(1), "BTC")
    assert s.account.balances()["BTC"] == Balance(free=D(0), locked=D(1))
    assert s.account.balances()["USDT"].locked == 0


def test_assets_held_from_the_start_are_valued_at_their_first_price() -> None:
    s = Script(balances={"BTC": D("0.5")})
    p = s.account.portfolio()
    assert (p.initial_balance, p.equity, p.positions_count) == (D(10000), D(10000), 0)
    assert s.account.balances()["BTC"] == Balance(free=D("0.5"), locked=D(0))
    events = s.trades("95000")
    valuation = next(e for e in events if isinstance(e, ValuationEvent))
    assert (valuation.asset, valuation.quantity, valuation.price) == ("BTC", D("0.5"), D(95000))
    (position,) = s.account.positions
    assert (position.quantity, position.entry_price) == (D("0.5"), D(95000))
    p = s.account.portfolio()
    assert (p.initial_balance, p.equity, p.total_pnl) == (D(57500), D(57500), D(0))
    s.trades("96000")
    p = s.account.portfolio()
    assert (p.equity, p.unrealized_pnl, p.total_pnl) == (D(58000), D(500), D(500))
    assert s.trades("96000") == []  # valued once


def test_the_portfolio_adds_up_after_gains_losses_and_fees() -> None:
    s = Script()
    s.trades("100")
    s.place(buy(OrderType.MARKET, "3"))
    s.trades("104")
    s.place(sell(OrderType.MARKET, "1"))
    s.trades("101")
    p = s.account.portfolio()
    assert p.total_pnl == p.realized_pnl + p.unrealized_pnl - p.fees_paid
    assert p.equity == p.initial_balance + p.total_pnl
    assert p.balance == p.balances["USDT"].total
    # cash + holdings at mark + fees = initial value + realized + unrealized
    holdings = s.account.positions[0].quantity * Decimal(101)
    assert p.balance + holdings + p.fees_paid == p.initial_balance + p.realized_pnl + (
        p.unrealized_pnl
    )
