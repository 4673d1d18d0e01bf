"""Properties over random price paths and random command sequences.

After every event: the equity identity holds exactly (also against an independent
cash-flow computation), no number is NaN or infinite, no OCO/bracket ever has two
filled exit legs.  At the end, a journal of the events rebuilds the same account,
which then behaves identically on further ticks.
"""

from __future__ import annotations

import tempfile
from decimal import Context, Decimal, localcontext
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workspace.journal import Journal
from workspace.trading import (
    Account,
    AccountConfig,
    AccountEvent,
    FillEvent,
    Order,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
    PositionType,
    Side,
)
from workspace.trading.orders import LegRole

from .scripted import book, trade

SYMBOLS = ("BTCUSDT", "ETHUSDT")
CONFIG = AccountConfig(initial_balance=Decimal(5000), slippage_bps=Decimal(3))

price_step = st.integers(min_value=-300, max_value=300)  # in 0.01 % of price
offset = st.integers(min_value=-800, max_value=800)  # in 0.01 % of price
kinds = st.sampled_from(list(OrderType))
qty = st.integers(min_value=1, max_value=400).map(lambda n: Decimal(n) / 100)

step = st.one_of(
    st.tuples(st.just("trade"), st.sampled_from(SYMBOLS), price_step),
    st.tuples(st.just("trade"), st.sampled_from(SYMBOLS), price_step),
    st.tuples(st.just("book"), st.sampled_from(SYMBOLS), st.integers(1, 20)),
    st.tuples(
        st.just("place"),
        st.sampled_from(SYMBOLS),
        st.sampled_from(list(Side)),
        kinds,
        qty,
        st.tuples(offset, offset, offset),
        st.sampled_from(["trail_percent", "trail_amount", "trailing_delta", None]),
    ),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("close"), st.integers(0, 50), st.booleans()),
)


def _at(price: Decimal, bps: int) -> Decimal:
    return (price * (1 + Decimal(bps) / 10000)).quantize(Decimal("0.01"))


def _request(
    symbol: str,
    side: Side,
    kind: OrderType,
    quantity: Decimal,
    offs: Any,
    trail: Any,
    price: Decimal,
) -> OrderRequest:
    a, b, c = (_at(price, o) for o in offs)
    fields: dict[str, Any] = {}
    if kind in (OrderType.LIMIT, OrderType.BRACKET) and offs[0] % 2 == 0:
        fields["price"] = a
    if kind is OrderType.LIMIT:
        fields["price"] = a
    if kind in (OrderType.STOP_LOSS, OrderType.TAKE_PROFIT, OrderType.OCO):
        fields["stop_price"] = b
    if kind in (OrderType.STOP_LOSS, OrderType.TAKE_PROFIT) and offs[2] > 400:
        fields["price"] = c
    if kind in (OrderType.OCO, OrderType.BRACKET):
        fields["take_profit"] = c
    if kind is OrderType.BRACKET:
        fields["stop_loss"] = b
    if kind in (OrderType.OCO, OrderType.BRACKET) and offs[0] % 3 != 0:
        # mostly well-formed groups, so that their legs get to fill
        up = 1 if (side is Side.SELL) == (kind is OrderType.OCO) else -1
        fields["take_profit"] = _at(price, up * (abs(offs[2]) + 5))
        fields["stop_loss" if kind is OrderType.BRACKET else "stop_price"] = _at(
            price, -up * (abs(offs[1]) + 5)
        )
    if kind is OrderType.TRAILING_STOP or (kind is OrderType.BRACKET and trail is not None):
        name = trail or "trail_percent"
        fields[name] = {
            "trail_percent": Decimal(abs(offs[2]) % 9 + 1) / 2,
            "trail_amount": Decimal(abs(offs[2]) % 50 + 1),
            "trailing_delta": Decimal(abs(offs[2]) % 500 + 10),
        }[name]
        if kind is OrderType.TRAILING_STOP and offs[1] > 300:
            fields["activation_price"] = b
    return OrderRequest(symbol=symbol, side=side, type=kind, quantity=quantity, **fields)


class Ledger:
    """An independent cash-flow view: equity = cash + value of holdings at the mark."""

    def __init__(self, initial: Decimal) -> None:
        self.cash = initial
        self.holding: dict[str, Decimal] = {}

    def take(self, event: AccountEvent) -> None:
        if isinstance(event, FillEvent):
            f = event.fill
            sign = 1 if f.side is Side.BUY else -1
            self.cash -= sign * f.quantity * f.price + f.fee
            self.holding[f.symbol] = self.holding.get(f.symbol, Decimal(0)) + sign * f.quantity

    def equity(self, account: Account) -> Decimal:
        value = self.cash
        for symbol, held in self.holding.items():
            if held:
                last = account.quote(symbol).last
                assert last is not None
                value += held * last
        return value


def _numbers(obj: Any) -> list[Decimal]:
    out: list[Decimal] = []
    for value in msgspec.structs.asdict(obj).values():
        if isinstance(value, Decimal):
            out.append(value)
        elif isinstance(value, tuple):
            for item in value:
                out += _numbers(item)
        elif isinstance(value, dict):
            out += [v for v in value.values() if isinstance(v, Decimal)]
        elif isinstance(value, msgspec.Struct):
            out += _numbers(value)
    return out


def _check_event(event: AccountEvent) -> None:
    assert all(n.is_finite() for n in _numbers(event)), event
    if isinstance(event, OrderEvent) and event.order.legs:
        exits = [leg for leg in event.order.legs if leg.role is not LegRole.ENTRY]
        assert sum(leg.status is OrderStatus.FILLED for leg in exits) <= 1, event.order


def _check_identity(account: Account, ledger: Ledger) -> None:
    p = account.portfolio()
    assert p.equity == p.initial_balance + p.realized_pnl + p.unrealized_pnl - p.fees_paid
    assert p.balance == p.initial_balance + p.realized_pnl - p.fees_paid
    assert p.equity == ledger.equity(account)
    for pos in account.positions:
        assert pos.quantity > 0
        held = ledger.holding[pos.symbol]
        assert held == (pos.quantity if pos.type is PositionType.BUY else -pos.quantity)


def _run(steps: list[Any]) -> tuple[Account, list[AccountEvent], int]:
    account = Account(CONFIG)
    shadow = Account(CONFIG)  # applies the events one by one, as a rebuild does
    ledger = Ledger(CONFIG.initial_balance)
    prices = {"BTCUSDT": Decimal("100.00"), "ETHUSDT": Decimal("20.00")}
    all_events: list[AccountEvent] = []
    t = 1_000
    for s in steps:
        t += 1
        events: list[AccountEvent] = []
        if s[0] == "trade":
            prices[s[1]] = max(Decimal("0.01"), _at(prices[s[1]], s[2]))
            events = account.on_market(trade(prices[s[1]], t, s[1]), t)
        elif s[0] == "book":
            p = prices[s[1]]
            spread = Decimal(s[2]) / 100
            events = account.on_market(book(str(p - spread), str(p + spread), s[1]), t)
        elif s[0] == "place":
            _, symbol, side, kind, quantity, offs, trail = s
            req = _request(symbol, side, kind, quantity, offs, trail, prices[symbol])
            _, events = account.place(req, t)
        elif s[0] == "cancel":
            live = account.open_orders
            if live:
                _, events = account.cancel(live[s[1] % len(live)].id, t)
        else:
            open_positions = account.positions
            if open_positions:
                pos = open_positions[s[1] % len(open_positions)]
                part = None if s[2] else (pos.quantity / 2).quantize(Decimal("0.0001"))
                if part is None or part > 0:
                    _, events = account.close_position(pos.id, part, t)
        for event in events:
            _check_event(event)
            shadow.apply(event)
            ledger.take(event)
            sp = shadow.portfolio()
            assert (
                sp.equity == sp.initial_balance + sp.realized_pnl + sp.unrealized_pnl - sp.fees_paid
            )
        _check_identity(account, ledger)
        # the running total (kept tick by tick) equals a full revaluation
        incremental = account.portfolio().unrealized_pnl
        with localcontext(Context(prec=60)):
            assert sum((p.unrealized_pnl for p in account.positions), Decimal(0)) == incremental
        assert account.revalue() == incremental
        assert account.revalue() == account.portfolio().unrealized_pnl
        all_events += events
    return account, all_events, t


def _state(account: Account) -> Any:
    return (
        dict(account.orders),
        sorted(account.positions, key=lambda p: p.id),
        account.closed_positions,
        account.fills,
        account.portfolio(),
        account.open_orders,
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(step, min_size=1, max_size=60), st.lists(price_step, min_size=1, max_size=8))
def test_random_sessions_keep_every_invariant_and_the_journal_reproduces_them(
    steps: list[Any], after: list[int]
) -> None:
    account, events, t = _run([("trade", "BTCUSDT", 0), ("trade", "ETHUSDT", 0), *steps])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.db"
        with Journal.open(path, config=CONFIG) as journal:
            journal.append(events)
            journal.append([account.mark(t)])
        with Journal.open(path) as journal:
            rebuilt = journal.rebuild()
    assert _state(rebuilt) == _state(account)
    # and the rebuilt account behaves exactly like the original from here on
    encoder = msgspec.json.Encoder()
    for i, bps in enumerate(after):
        t += 1
        for symbol in SYMBOLS:
            last = account.quote(symbol).last
            assert last is not None
            record = trade(max(Decimal("0.01"), _at(last, bps * (i + 1))), t, symbol)
            live = account.on_market(record, t)
            again = rebuilt.on_market(record, t)
            assert encoder.encode(live) == encoder.encode(again)
    # new ids continue the same sequences (orders, legs, positions, fills)
    t += 1
    for req in (
        OrderRequest(symbol="ETHUSDT", side=Side.SELL, type=OrderType.MARKET, quantity=Decimal(1)),
        OrderRequest(
            symbol="BTCUSDT",
            side=Side.BUY,
            type=OrderType.BRACKET,
            quantity=Decimal("0.01"),
            take_profit=Decimal(10**6),
            stop_loss=Decimal("0.01"),
        ),
    ):
        _live_order, live = account.place(req, t)
        _again_order, again = rebuilt.place(req, t)
        assert encoder.encode(live) == encoder.encode(again)
    assert _state(rebuilt) == _state(account)


def _order_ids(orders: list[Order]) -> list[str]:
    return [o.id for o in orders]


@settings(max_examples=30, deadline=None)
@given(st.lists(step, min_size=1, max_size=40))
def test_the_same_inputs_always_give_the_same_events(steps: list[Any]) -> None:
    _, first, _ = _run([("trade", "BTCUSDT", 0), ("trade", "ETHUSDT", 0), *steps])
    _, second, _ = _run([("trade", "BTCUSDT", 0), ("trade", "ETHUSDT", 0), *steps])
    encoder = msgspec.msgpack.Encoder()
    assert [encoder.encode(e) for e in first] == [encoder.encode(e) for e in second]
