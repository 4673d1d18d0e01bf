"""An exchange simulator speaking Binance's spot stream protocol on loopback.

``ExchangeSimulator(SimConfig(...))`` serves a seeded random walk (or a replayed
recording) on ``/ws``, ``/ws/<stream>``, ``/stream?streams=...`` plus the REST
endpoints the feed needs, on one port.  See docs/simulator.md.
"""

from workspace.sim.clock import Clock, ManualClock, WallClock
from workspace.sim.config import DEFAULT_SYMBOLS, SimConfig, SymbolSpec
from workspace.sim.server import ExchangeSimulator

__all__ = [
    "DEFAULT_SYMBOLS",
    "Clock",
    "ExchangeSimulator",
    "ManualClock",
    "SimConfig",
    "SymbolSpec",
    "WallClock",
]
