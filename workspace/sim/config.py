"""What the simulator serves: symbols with their exchange filters, rates, limits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from workspace.config_types import check_field_types
from workspace.sim.clock import Clock


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One listed symbol: Binance's filters, the random walk's and the book's parameters.

    ``price`` is the level the walk starts at (the last price when the simulator
    starts); ``volatility`` is annualised (0.6 = 60 %/year, BTC's usual order);
    ``daily_volume`` is in base units over 24 h, used to size trades and seed history.

    Filter fields left at ``None`` are derived from the tick and step sizes the way
    Binance sets them for a new USDT pair (see :meth:`filters`).  The defaults of
    :data:`DEFAULT_SYMBOLS` carry the values of real exchangeInfo responses (their
    provenance is in docs/simulator.md).

    The order book: ``spread_bps`` is the usual distance between best bid and ask (0 =
    one tick, what liquid Binance pairs show nearly all the time), ``book_level_qty``
    the typical size of one price level in base units, ``book_gap_ticks`` the mean
    distance in ticks between adjacent levels.
    """

    symbol: str
    base_asset: str
    quote_asset: str
    price: Decimal
    tick_size: Decimal
    step_size: Decimal
    min_notional: Decimal = Decimal("5")
    volatility: float = 0.6
    daily_volume: Decimal = Decimal("1000")
    spread_bps: float = 0.0
    book_level_qty: Decimal | None = None
    book_gap_ticks: float = 2.0
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    min_qty: Decimal | None = None
    max_qty: Decimal | None = None
    market_max_qty: Decimal | None = None
    max_notional: Decimal = Decimal("9000000")
    permissions: tuple[str, ...] = ("SPOT", "MARGIN")
    status: str = "TRADING"
    max_position: Decimal | None = None

    def filters(self) -> SymbolFilters:
        """The symbol's exchangeInfo filters, with the derived defaults filled in."""
        return SymbolFilters(
            min_price=self.min_price if self.min_price is not None else self.tick_size,
            max_price=self.max_price if self.max_price is not None else _max_price(self.price),
            tick_size=self.tick_size,
            min_qty=self.min_qty if self.min_qty is not None else self.step_size,
            max_qty=self.max_qty if self.max_qty is not None else Decimal("9000000"),
            step_size=self.step_size,
            market_max_qty=(
                self.market_max_qty
                if self.market_max_qty is not None
                else (self.daily_volume / 20).quantize(Decimal("0.00000001"))
            ),
            min_notional=self.min_notional,
            max_notional=self.max_notional,
            max_position=self.max_position,
        )

    def level_qty(self) -> Decimal:
        """Typical size of one book level (base units)."""
        if self.book_level_qty is not None:
            return self.book_level_qty
        # About 1/20 000 of a day's volume, never below one step.
        return max(self.step_size, self.daily_volume / 20_000)


@dataclass(frozen=True, slots=True)
class SymbolFilters:
    """The numbers of Binance's symbol filters (filters.md) for one symbol."""

    min_price: Decimal
    max_price: Decimal
    tick_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    step_size: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal
    # The same for every spot symbol in the captured responses (docs/simulator.md).
    apply_min_to_market: bool = True
    apply_max_to_market: bool = False
    avg_price_mins: int = 5
    # PERCENT_PRICE_BY_SIDE: 5 and 0.2 on both sides for every USDT pair captured.
    bid_multiplier_up: Decimal = Decimal("5")
    bid_multiplier_down: Decimal = Decimal("0.2")
    ask_multiplier_up: Decimal = Decimal("5")
    ask_multiplier_down: Decimal = Decimal("0.2")
    # ICEBERG_PARTS: 10 in the 2024 capture, raised to 100 for all symbols on
    # 2026-03-12 (binance-spot-api-docs CHANGELOG, 2026-02-24).
    iceberg_parts: int = 100
    min_trailing_delta: int = 10
    max_trailing_delta: int = 2000
    max_num_orders: int = 200
    max_num_algo_orders: int = 5
    # MAX_NUM_ORDER_LISTS and MAX_NUM_ORDER_AMENDS: on for every symbol since
    # 2025-08-28, at 20 order lists per symbol and 10 amendments per order
    # (binance-spot-api-docs CHANGELOG, 2025-08-12)
    max_num_order_lists: int = 20
    max_num_order_amends: int = 10
    # MAX_POSITION: off unless a spec sets it (no spot symbol of the captures has it)
    max_position: Decimal | None = None


def _max_price(price: Decimal) -> Decimal:
    """Binance's maxPrice for a pair at ``price``: 1000x its order, at most 1 000 000."""
    order = math.ceil(math.log10(float(price))) if price > 0 else 0
    return min(Decimal(10) ** (order + 3), Decimal(1_000_000))


def _spec(
    base: str,
    price: str,
    tick: str,
    step: str,
    vol: float,
    daily_volume: str,
    *,
    level_qty: str,
    gap_ticks: float,
    max_price: str | None = None,
    max_qty: str | None = None,
    market_max_qty: str | None = None,
) -> SymbolSpec:
    return SymbolSpec(
        symbol=f"{base}USDT",
        base_asset=base,
        quote_asset="USDT",
        price=Decimal(price),
        tick_size=Decimal(tick),
        step_size=Decimal(step),
        volatility=vol,
        daily_volume=Decimal(daily_volume),
        book_level_qty=Decimal(level_qty),
        book_gap_ticks=gap_ticks,
        max_price=Decimal(max_price) if max_price is not None else None,
        max_qty=Decimal(max_qty) if max_qty is not None else None,
        market_max_qty=Decimal(market_max_qty) if market_max_qty is not None else None,
    )


# Price levels and volumes of the order of Binance spot in 2025.  tickSize, stepSize,
# minPrice/maxPrice, minQty/maxQty and MARKET_LOT_SIZE.maxQty of BTC, ETH, ADA, LTC,
# XRP and DOGE are those of a captured Binance response (ccxt's
# ts/src/test/static/markets/binance.json, the markets' raw "info"); BNB, SOL, LINK
# and AVAX were not in it and take the rules Binance applies to every USDT pair
# (see docs/simulator.md, "Symbols and filters").
DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    _spec("BTC", "97000", "0.01", "0.00001", 0.55, "20000", level_qty="0.4", gap_ticks=6,
          max_price="1000000", max_qty="9000", market_max_qty="128.52621715"),
    _spec("ETH", "3500", "0.01", "0.0001", 0.70, "400000", level_qty="8", gap_ticks=2,
          max_price="1000000", max_qty="9000", market_max_qty="3277.54882761"),
    _spec("BNB", "650", "0.01", "0.001", 0.60, "150000", level_qty="12", gap_ticks=2),
    _spec("SOL", "200", "0.01", "0.001", 0.90, "3000000", level_qty="60", gap_ticks=1.5),
    _spec("XRP", "2.2", "0.0001", "1", 0.90, "400000000", level_qty="8000", gap_ticks=1.5,
          max_price="10000", max_qty="9222449", market_max_qty="6858819.29288702"),
    _spec("ADA", "0.9", "0.0001", "0.1", 0.90, "300000000", level_qty="15000", gap_ticks=1.5,
          max_price="1000", max_qty="900000", market_max_qty="3734056.71171548"),
    _spec("DOGE", "0.35", "0.00001", "1", 1.00, "1500000000", level_qty="60000",
          gap_ticks=1.5, max_price="1000", max_qty="9000000",
          market_max_qty="28160624.66945606"),
    _spec("LTC", "100", "0.01", "0.001", 0.80, "500000", level_qty="40", gap_ticks=2,
          max_price="100000", max_qty="90000", market_max_qty="20716.23115062"),
    _spec("LINK", "20", "0.01", "0.01", 0.90, "3000000", level_qty="400", gap_ticks=1.5),
    _spec("AVAX", "35", "0.01", "0.01", 0.95, "2000000", level_qty="200", gap_ticks=1.5),
)  # fmt: skip

KLINE_INTERVALS: tuple[str, ...] = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
    "1d", "3d", "1w", "1M",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything an :class:`~workspace.sim.server.ExchangeSimulator` needs.

    ``symbols`` may name default symbols by string or give full specs.  ``clock``
    defaults to the wall clock; a :class:`~workspace.sim.clock.ManualClock` makes the
    frames a pure function of seed and clock.  ``replay`` switches from the random
    walk to a recorded JSONL session or a Binance 1m kline CSV (``speed`` 0 = as fast
    as the client reads, 1 = real time).  ``tls_cert``/``tls_key`` serve ``wss://``
    and ``https://`` instead of ``ws://``/``http://``.
    """

    symbols: tuple[str | SymbolSpec, ...] = DEFAULT_SYMBOLS
    seed: int = 0
    ticker_interval_s: float = 1.0
    # Each symbol's ticker on its own phase (from the seed), as Binance's per-symbol
    # streams are; False = every symbol's ticker at the same instant (one burst).
    stagger_tickers: bool = True
    trade_interval_s: float = 0.1
    book_interval_s: float = 0.1
    replay: Path | None = None
    speed: float = 1.0
    firehose: int = 0
    clock: Clock | None = None
    # Price levels kept per side of each symbol's book (REST depth serves up to this
    # many, Binance up to 5000).
    book_depth: int = 1000
    # Seeded kline history before the start (every interval reaches this far back).
    history_days: int = 400
    # Live trades kept for /api/v3/trades and /api/v3/aggTrades.
    trade_memory: int = 5000
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Binance's limits and habits (web-socket-streams.md, "WebSocket Limits").
    max_control_messages_per_s: int = 5
    max_streams_per_connection: int = 1024
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 60.0
    # REQUEST_WEIGHT per minute and IP (exchangeInfo rateLimits); over it: HTTP 429.
    rest_weight_per_minute: int = 6000
    # Control messages longer than this get an error reply; frames over
    # max_frame_bytes close the connection with 1009 (websockets' max_size).
    max_control_bytes: int = 65_536
    max_frame_bytes: int = 1_048_576
    # Beyond this much backlog (a suspended laptop, a blocked loop) the random walk
    # jumps to now instead of generating every missed event.
    max_catch_up_s: float = 60.0
    # Live frames waiting for a slow client beyond this are dropped, so one slow
    # reader never stalls the others.
    send_queue_frames: int = 10_000

    def __post_init__(self) -> None:
        check_field_types(self)
        intervals = (self.ticker_interval_s, self.trade_interval_s, self.book_interval_s)
        if not all(0 < interval < math.inf for interval in intervals):  # (NaN: not < inf)
            raise ValueError("ticker/trade/book intervals must be positive seconds")
        if not 0 <= self.speed < math.inf:
            raise ValueError("replay speed must be >= 0 (0 = as fast as the client reads)")
        if not (isinstance(self.firehose, int) and self.firehose >= 0):
            raise ValueError("firehose must be a whole number >= 0")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be a whole number, got {self.seed!r}")
        for name in (
            "trade_memory",
            "max_control_messages_per_s",
            "max_streams_per_connection",
            "rest_weight_per_minute",
            "max_control_bytes",
            "max_frame_bytes",
            "send_queue_frames",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        for name in ("ping_interval_s", "ping_timeout_s", "max_catch_up_s"):
            if not 0 < getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be positive seconds, got {getattr(self, name)!r}")
        if not self.symbols and self.replay is None:
            raise ValueError("at least one symbol is needed")
        names = [spec.symbol for spec in self.symbol_specs()]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            # two simulated markets under one name: exchangeInfo would list it twice and
            # its streams would interleave two price paths
            raise ValueError(f"each symbol once: {', '.join(twice)} given twice")
        if not 20 <= self.book_depth <= 5000:
            raise ValueError("book_depth must be within 20..5000 (Binance serves up to 5000)")
        if not 30 <= self.history_days <= 3650:
            raise ValueError("history_days must be within 30..3650")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")

    def symbol_specs(self) -> tuple[SymbolSpec, ...]:
        known = {spec.symbol: spec for spec in DEFAULT_SYMBOLS}
        specs: list[SymbolSpec] = []
        for item in self.symbols:
            if isinstance(item, SymbolSpec):
                specs.append(item)
                continue
            if not isinstance(item, str):
                raise ValueError(f"a symbol is a name or a SymbolSpec, got {item!r}")
            name = item.upper()
            if name not in known:
                raise ValueError(
                    f"{name} is not one of the simulator's symbols (known: "
                    f"{', '.join(sorted(known))}); in Python a SymbolSpec adds one"
                )
            specs.append(known[name])
        return tuple(specs)
