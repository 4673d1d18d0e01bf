"""Scripted market data and requests for account tests: prices in, events out."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from workspace.market.exchange_info import SymbolInfo, parse_exchange_info
from workspace.market.records import BookTicker, MiniTicker, Ticker, Trade
from workspace.trading import (
    Account,
    AccountConfig,
    AccountEvent,
    FillEvent,
    Order,
    OrderEvent,
    OrderRequest,
    OrderType,
    Position,
    Side,
)

SYMBOL = "BTCUSDT"
REST = Path(__file__).parents[1] / "fixtures" / "binance" / "rest"
SPOT_2021 = "exchangeInfo.spot.mainnet-2021-10.json"  # BTCUSDT, ETHUSDT (legacy filters)
ETHBTC_2025 = "exchangeInfo.ETHBTC.mainnet-2025-06.json"  # today's filter set


@cache
def listing(name: str = SPOT_2021) -> dict[str, SymbolInfo]:
    """A real exchangeInfo answer (tests/fixtures/binance/rest), parsed."""
    return parse_exchange_info((REST / name).read_bytes())


def D(value: str | int) -> Decimal:
    return Decimal(value)


def trade(price: str | Decimal, t: int = 0, symbol: str = SYMBOL) -> Trade:
    return Trade(
        event_type="aggTrade",
        event_time=t,
        symbol=symbol,
        price=Decimal(price),
        quantity=Decimal("0.5"),
        trade_time=t,
        buyer_is_maker=False,
        agg_id=t,
    )


def book(bid: str, ask: str, symbol: str = SYMBOL) -> BookTicker:
    return BookTicker(
        update_id=1,
        symbol=symbol,
        bid_price=Decimal(bid),
        bid_qty_text="1",
        ask_price=Decimal(ask),
        ask_qty_text="1",
    )


def mini(price: str, t: int = 0, symbol: str = SYMBOL) -> MiniTicker:
    return MiniTicker(
        event_type="24hrMiniTicker",
        event_time=t,
        symbol=symbol,
        last_price=Decimal(price),
        open_price_text=price,
        high_price_text=price,
        low_price_text=price,
        volume_text="1",
        quote_volume_text=price,
    )


def ticker(price: str, bid: str | None, ask: str | None, symbol: str = SYMBOL) -> Ticker:
    return Ticker(
        event_type="24hrTicker",
        event_time=1,
        symbol=symbol,
        price_change_text="0",
        price_change_percent_text="0",
        weighted_avg_price_text=price,
        last_price=Decimal(price),
        open_price_text=price,
        high_price_text=price,
        low_price_text=price,
        volume=Decimal(1),
        quote_volume_text=price,
        open_time=0,
        close_time=1,
        first_trade_id=1,
        last_trade_id=2,
        trade_count=1,
        bid_price=Decimal(bid) if bid else None,
        ask_price=Decimal(ask) if ask else None,
    )


_TEXT_FIELDS = ("client_order_id", "time_in_force")


def request(side: Side, kind: OrderType, quantity: str, **prices: Any) -> OrderRequest:
    symbol = prices.pop("symbol", SYMBOL)
    fields: dict[str, Any] = {  # prices as Decimal, the text fields as given
        k: (Decimal(v) if isinstance(v, str | int) and k not in _TEXT_FIELDS else v)
        for k, v in prices.items()
    }
    return OrderRequest(
        symbol=str(symbol), side=side, type=kind, quantity=Decimal(quantity), **fields
    )


def buy(kind: OrderType, quantity: str, **prices: Any) -> OrderRequest:
    return request(Side.BUY, kind, quantity, **prices)


def sell(kind: OrderType, quantity: str, **prices: Any) -> OrderRequest:
    return request(Side.SELL, kind, quantity, **prices)


def fills(events: list[AccountEvent]) -> list[tuple[str, Decimal, Decimal]]:
    """(order id, quantity, price) of every fill in ``events``."""
    return [
        (f.order_id, f.quantity, f.price)
        for e in events
        if isinstance(e, FillEvent)
        for f in e.fills
    ]


def order_updates(events: list[AccountEvent]) -> list[Order]:
    return [e.order for e in events if isinstance(e, OrderEvent)]


class Script:
    """An account plus a clock that advances by one ms per call."""

    def __init__(
        self, config: AccountConfig | None = None, *, binance: bool = False, **kw: Any
    ) -> None:
        """``binance=True``: BTCUSDT / ETHUSDT with their real 2021 filters."""
        rules = listing() if binance else None
        self.account = Account(config or AccountConfig(**kw), rules=rules)
        self.t = 1_700_000_000_000
        self.events: list[AccountEvent] = []

    def tick(self) -> int:
        self.t += 1
        return self.t

    def trades(self, *prices: str, symbol: str = SYMBOL) -> list[AccountEvent]:
        out: list[AccountEvent] = []
        for price in prices:
            t = self.tick()
            out += self.account.on_market(trade(price, t, symbol), t)
        self.events += out
        return out

    def feed(self, record: Any) -> list[AccountEvent]:
        out = self.account.on_market(record, self.tick())
        self.events += out
        return out

    def place(self, req: OrderRequest) -> tuple[Order, list[AccountEvent]]:
        order, out = self.account.place(req, self.tick())
        self.events += out
        return order, out

    def cancel(self, order_id: str) -> tuple[Order, list[AccountEvent]]:
        order, out = self.account.cancel(order_id, self.tick())
        self.events += out
        return order, out

    def close(
        self, position_id: str, quantity: str | None = None
    ) -> tuple[Order, list[AccountEvent]]:
        q = Decimal(quantity) if quantity is not None else None
        order, out = self.account.close_position(position_id, q, self.tick())
        self.events += out
        return order, out

    def order(self, order_id: str) -> Order:
        return self.account.order(order_id)


def same_positions(a: list[Position], b: list[Position]) -> bool:
    """Equal positions, whatever the freshness of their marks (a rebuilt account's
    prices come from the journal: stale until a live price arrives)."""

    def key(p: Position) -> Position:
        return msgspec.structs.replace(p, price_ms=None, stale=False)

    return [key(p) for p in a] == [key(p) for p in b]


class Refusing:
    """A journal sink that cannot write the next ``n`` steps (journal first)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, events: list[AccountEvent]) -> None:
        if self.n > 0:
            self.n -= 1
            raise OSError("disk full")
