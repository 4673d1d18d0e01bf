"""What the simulator serves: symbols with their exchange filters, rates, limits."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from workspace.sim.clock import Clock


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One listed symbol: Binance's filters plus the random walk's parameters.

    ``price`` is the level the walk starts at (the last price when the simulator
    starts); ``volatility`` is annualised (0.6 = 60 %/year, BTC's usual order);
    ``daily_volume`` is in base units over 24 h, used to size trades and seed history.
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
    spread_bps: float = 0.1


def _spec(base: str, price: str, tick: str, step: str, vol: float, daily_volume: str) -> SymbolSpec:
    return SymbolSpec(
        symbol=f"{base}USDT",
        base_asset=base,
        quote_asset="USDT",
        price=Decimal(price),
        tick_size=Decimal(tick),
        step_size=Decimal(step),
        volatility=vol,
        daily_volume=Decimal(daily_volume),
    )


# Levels, filters and volumes of the order of Binance spot in 2025.
DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    _spec("BTC", "97000", "0.01", "0.00001", 0.55, "20000"),
    _spec("ETH", "3500", "0.01", "0.0001", 0.70, "400000"),
    _spec("BNB", "650", "0.01", "0.001", 0.60, "150000"),
    _spec("SOL", "200", "0.01", "0.001", 0.90, "3000000"),
    _spec("XRP", "2.2", "0.0001", "0.1", 0.90, "400000000"),
    _spec("ADA", "0.9", "0.0001", "0.1", 0.90, "300000000"),
    _spec("DOGE", "0.35", "0.00001", "1", 1.00, "1500000000"),
    _spec("LTC", "100", "0.01", "0.001", 0.80, "500000"),
    _spec("LINK", "20", "0.01", "0.01", 0.90, "3000000"),
    _spec("AVAX", "35", "0.01", "0.01", 0.95, "2000000"),
)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything an :class:`~workspace.sim.server.ExchangeSimulator` needs.

    ``symbols`` may name default symbols by string or give full specs.  ``clock``
    defaults to the wall clock; a :class:`~workspace.sim.clock.ManualClock` makes the
    frames a pure function of seed and clock.  ``replay`` switches from the random
    walk to a recorded JSONL session or a Binance 1m kline CSV (``speed`` 0 = as fast
    as the client reads, 1 = real time).
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
    # Binance's limits and habits (web-socket-streams.md, "WebSocket Limits").
    max_control_messages_per_s: int = 5
    max_streams_per_connection: int = 1024
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 60.0
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
        intervals = (self.ticker_interval_s, self.trade_interval_s, self.book_interval_s)
        if min(intervals) <= 0:
            raise ValueError("ticker/trade/book intervals must be positive")
        if self.speed < 0:
            raise ValueError("replay speed must be >= 0 (0 = as fast as the client reads)")
        if self.firehose < 0:
            raise ValueError("firehose must be >= 0")
        if not self.symbols and self.replay is None:
            raise ValueError("at least one symbol is needed")

    def symbol_specs(self) -> tuple[SymbolSpec, ...]:
        known = {spec.symbol: spec for spec in DEFAULT_SYMBOLS}
        specs: list[SymbolSpec] = []
        for item in self.symbols:
            if isinstance(item, SymbolSpec):
                specs.append(item)
                continue
            name = item.upper()
            if name not in known:
                raise ValueError(
                    f"no default parameters for {name}; pass a SymbolSpec (known: "
                    f"{', '.join(sorted(known))})"
                )
            specs.append(known[name])
        return tuple(specs)
