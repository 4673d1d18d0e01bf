"""The engine's tunables, with the cadences PROTOCOL.md promises as defaults."""

from __future__ import annotations

from dataclasses import dataclass

from workspace.config_types import check_field_types


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    positions_interval_s: float = 1.0  # POSITION_UPDATE cadence
    portfolio_interval_s: float = 2.0  # PORTFOLIO_UPDATE cadence
    # After an order event or a fill, POSITION_UPDATE and PORTFOLIO_UPDATE follow within
    # this long (coalesced: one pair per interval however many events), so a fill does
    # not show in the positions a second before the wallet and P&L catch up.
    account_state_delay_s: float = 0.1
    status_interval_s: float = 5.0  # STATUS (with metrics) besides every feed change
    loop_lag_interval_s: float = 0.1  # how often the loop-lag probe wakes
    callback_budget_s: float = 0.1  # a strategy call longer than this is reported
    max_pending: int = 10_000  # unconflatable messages a subscriber may fall behind
    stop_grace_s: float = 5.0  # how long stop() waits for each task to finish
    mark_interval_s: float = 10.0  # journal a mark (prices, equity) at most this often
    tick_flush_interval_s: float = 1.0  # tick store write batching
    ticks_per_symbol: int = 100_000  # the tick store keeps this many recent rows
    # start() waits this long for the feed and the exchange's rules, then returns with a
    # warning and keeps connecting in the background (0: return at once)
    start_timeout_s: float = 10.0
    expire_interval_s: float = 0.25  # how often waiting market orders are checked
    rules_refresh_s: float = 3600.0  # exchangeInfo is loaded again this often
    # Opt-in: call plain (non-async) strategy callbacks straight from the feed callback
    # instead of in a task of their own.  Tick -> strategy order drops to the engine's
    # own cost, but a slow strategy then delays the feed and ticks are not conflated.
    direct_sync_callbacks: bool = False
    # A local order book for every streamed symbol (the Workspace adds the diff depth
    # stream to the feed's streams): the account's fills and the book panel read it.
    # False: books only for those asked for (acquire_book / subscribe_book).
    keep_books: bool = True
    # A candle series (symbol, interval) nobody asked for this long is dropped and its
    # kline stream unsubscribed (the chart asks every second for its forming bar).
    candle_idle_s: float = 120.0
    # While the journal cannot write, try an append this often (a mark) to recover
    journal_probe_s: float = 1.0
    # Final orders (and as many fills and closed positions) the account keeps in memory;
    # older ones are read from the journal (Account.retain)
    final_orders_in_memory: int = 10_000

    def __post_init__(self) -> None:
        check_field_types(self)
        for name in (
            "positions_interval_s",
            "portfolio_interval_s",
            "account_state_delay_s",
            "status_interval_s",
            "loop_lag_interval_s",
            "callback_budget_s",
            "stop_grace_s",
            "mark_interval_s",
            "tick_flush_interval_s",
            "expire_interval_s",
            "rules_refresh_s",
            "candle_idle_s",
            "journal_probe_s",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"EngineConfig.{name} must be > 0")
        if not self.start_timeout_s >= 0:  # (a NaN fails every comparison)
            raise ValueError("EngineConfig.start_timeout_s must be >= 0")
        if self.max_pending < 1 or self.ticks_per_symbol < 1:
            raise ValueError("EngineConfig.max_pending and ticks_per_symbol must be >= 1")
        if self.final_orders_in_memory < 1:
            raise ValueError("EngineConfig.final_orders_in_memory must be >= 1")
