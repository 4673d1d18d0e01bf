"""The mark book: live marks of open positions and the vectorised full revaluation."""

from __future__ import annotations

from decimal import Context, Decimal

import pytest

from workspace.trading import Account, AccountConfig, OrderRequest, OrderType, Side
from workspace.trading.market_state import Quote
from workspace.trading.marks import MarkBook
from workspace.trading.positions import Position, PositionStatus, PositionType

from .scripted import trade

D = Decimal
CONFIG = AccountConfig(initial_balance=D(10) ** 9, allow_short=True)  # longs and shorts
CTX = Context(prec=60)


def _position(symbol: str, ptype: PositionType, quantity: str, cost: str, mark: str) -> Position:
    q, c, m = D(quantity), D(cost), D(mark)
    pnl = q * m - c if ptype is PositionType.BUY else c - q * m
    return Position(
        id=f"pos-{symbol}",
        symbol=symbol,
        type=ptype,
        quantity=q,
        cost=c,
        entry_price=c / q,
        status=PositionStatus.OPEN,
        opened_at=1,
        updated_at=1,
        current_price=m,
        unrealized_pnl=pnl,
    )


def test_revalue_marks_longs_and_shorts_at_their_quotes_last_price() -> None:
    book = MarkBook(CTX)
    btc, eth = Quote(last=D(100)), Quote(last=D(20))
    book.put(_position("BTCUSDT", PositionType.BUY, "2", "200", "100"), btc)
    book.put(_position("ETHUSDT", PositionType.SELL, "3", "60", "20"), eth)
    btc.last, eth.last = D("101.5"), D("19.25")
    assert book.revalue() == D("3") + D("2.25")  # long 2 x +1.5, short 3 x -0.75
    assert book.pnl("BTCUSDT") == D(3)
    assert book.pnl("ETHUSDT") == D("2.25")
    assert book.price("ETHUSDT") == D("19.25")


def test_a_symbol_without_a_last_price_keeps_its_mark_in_a_revaluation() -> None:
    book = MarkBook(CTX)
    book.put(_position("BTCUSDT", PositionType.BUY, "1", "100", "105"), Quote())
    book.put(_position("ETHUSDT", PositionType.BUY, "1", "20", "20"), Quote(last=D(22)))
    assert book.revalue() == D(5) + D(2)
    assert book.price("BTCUSDT") == D(105)


def test_marks_settle_on_the_next_read_exactly_and_need_a_position() -> None:
    book = MarkBook(CTX)
    book.put(_position("BTCUSDT", PositionType.SELL, "2", "200", "100"), Quote(last=D(100)))
    book.put(_position("ETHUSDT", PositionType.BUY, "3", "30", "10"), Quote(last=D(10)))
    assert book.unrealized == 0
    book.mark("BTCUSDT", D(99))
    assert book.unrealized == D(2)
    book.mark("BTCUSDT", D("99.5"))  # noted twice before a read: settled once
    book.mark("ETHUSDT", D("10.5"))
    book.mark("BTCUSDT", D("99.25"))
    assert book.pnl("BTCUSDT") == D("1.5")
    assert (book.price("BTCUSDT"), book.price("ETHUSDT")) == (D("99.25"), D("10.5"))
    assert book.unrealized == D("1.5") + D("1.5")
    book.remove("BTCUSDT")
    assert book.unrealized == D("1.5")
    with pytest.raises(KeyError):
        book.mark("BTCUSDT", D(20))


def test_removing_a_slot_moves_the_last_one_into_it_and_keeps_every_mark() -> None:
    book = MarkBook(CTX)
    quotes = {s: Quote(last=D(10)) for s in ("A", "B", "C")}
    for s in quotes:
        book.put(_position(s, PositionType.BUY, "1", "10", "10"), quotes[s])
    book.remove("A")
    book.remove("A")  # already gone: nothing happens
    assert len(book) == 2
    assert "A" not in book
    quotes["B"].last, quotes["C"].last = D(11), D(13)
    assert book.revalue() == D(1) + D(3)
    assert (book.pnl("B"), book.pnl("C")) == (D(1), D(3))


def test_the_account_hands_out_positions_with_their_live_mark() -> None:
    account = Account(CONFIG)
    account.on_market(trade(D(100), 1, "BTCUSDT"), 1)
    account.place(
        OrderRequest(symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET, quantity=D(2)), 2
    )
    account.on_market(trade(D("103.25"), 3, "BTCUSDT"), 3)
    (position,) = account.positions
    assert position.current_price == D("103.25")
    assert position.unrealized_pnl == D("6.5")
    assert account.position(position.id) == position
    assert account.portfolio().unrealized_pnl == D("6.5")


def test_a_full_revaluation_of_many_positions_equals_the_incremental_total() -> None:
    account = Account(CONFIG)
    symbols = [f"S{i:03d}USDT" for i in range(300)]
    for i, symbol in enumerate(symbols):
        account.on_market(trade(D(100), 1, symbol), 1)
        side = Side.BUY if i % 2 else Side.SELL
        request = OrderRequest(
            symbol=symbol, side=side, type=OrderType.MARKET, quantity=D(i + 1) / 8
        )
        account.place(request, 2)
    for i, symbol in enumerate(symbols[::3]):  # close a third: slots move around
        position = next(p for p in account.positions if p.symbol == symbol)
        account.close_position(position.id, None, 3 + i)
    for i, symbol in enumerate(symbols):
        account.on_market(trade(D(100) + D(i % 17 - 8) / 64, 10, symbol), 10)
    incremental = account.portfolio().unrealized_pnl
    assert account.revalue() == incremental
    assert sum((p.unrealized_pnl for p in account.positions), D(0)) == incremental
    for p in account.positions:
        signed = p.quantity if p.type is PositionType.BUY else -p.quantity
        signed_cost = p.cost if p.type is PositionType.BUY else -p.cost
        assert p.unrealized_pnl == signed * p.current_price - signed_cost
        assert p.current_price == account.quote(p.symbol).last
