"""Pre-encoded frames for throughput benchmarks (``SimConfig(firehose=N)``).

A connection that subscribes first gets N valid frames of its ``@ticker`` and
``@aggTrade`` streams as fast as its socket takes them, then the normal live data.
The frames are built and encoded before the first one is sent, so a benchmark
measures the client, not the simulator.  Built straight from e8 integers into
bytes (no records, no Decimal) because a benchmark wants 10^5-10^6 of them; the
numbers are still consistent (``p = c - o``, ``h >= c >= l``, ids contiguous), one
event millisecond apart, from their own seeded random walk.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from workspace.sim.config import SymbolSpec
from workspace.sim.fixedpoint import SCALE, format_e8, round_to_step, to_e8
from workspace.sim.wire import combine

_MS_PER_YEAR = 365 * 86_400_000
_DAY_MS = 86_400_000


class _Walk:
    def __init__(self, spec: SymbolSpec, rng: random.Random, start_ms: int) -> None:
        self.symbol = spec.symbol
        self.tick = to_e8(spec.tick_size)
        self.step = to_e8(spec.step_size)
        self.price = round_to_step(float(spec.price) * SCALE, self.tick)
        self.open = self.high = self.low = self.price
        # Per-millisecond moves would be invisible at tick resolution: walk as if each
        # frame were a second apart, so the prices visibly move.
        self.sigma_ticks = spec.volatility / math.sqrt(_MS_PER_YEAR / 1000) * self.price / self.tick
        self.mean_qty = max(self.step, int(float(spec.daily_volume) * SCALE / 86_400))
        self.volume = self.quote = 0
        self.first_id = self.last_id = rng.randrange(10**7, 10**9)
        self.agg_id = self.first_id // 2
        self.last_qty = self.step
        self.rng = rng
        self._middle: bytes | None = None  # the ticker fields that only trades change

    def trade(self, now: int) -> bytes:
        rng = self.rng
        self.price = max(self.tick, self.price + round(rng.gauss(0, self.sigma_ticks)) * self.tick)
        qty = round_to_step(self.mean_qty * rng.lognormvariate(-0.5, 1.0), self.step)
        self.high = max(self.high, self.price)
        self.low = min(self.low, self.price)
        self.volume += qty
        self.quote += self.price * qty // SCALE
        self.last_id += 1
        self.agg_id += 1
        self.last_qty = qty
        self._middle = None
        maker = "true" if rng.random() < 0.5 else "false"
        return (
            f'{{"e":"aggTrade","E":{now},"s":"{self.symbol}","a":{self.agg_id},'
            f'"p":"{format_e8(self.price)}","q":"{format_e8(qty)}","f":{self.last_id},'
            f'"l":{self.last_id},"T":{now},"m":{maker},"M":true}}'
        ).encode()

    def ticker(self, now: int) -> bytes:
        if self._middle is None:
            self._middle = self._ticker_middle()
        return (
            f'{{"e":"24hrTicker","E":{now},"s":"{self.symbol}",'.encode()
            + self._middle
            + f'"O":{now - _DAY_MS},"C":{now},"F":{self.first_id},"L":{self.last_id},'
            f'"n":{self.last_id - self.first_id + 1}}}'.encode()
        )

    def _ticker_middle(self) -> bytes:
        change = self.price - self.open
        percent = (Decimal(change) / Decimal(self.open) * 100).quantize(
            Decimal("0.001"), rounding=ROUND_HALF_EVEN
        )
        weighted = self.quote * SCALE // self.volume if self.volume else self.price
        weighted = min(max(weighted, self.low), self.high)
        bid, ask = self.price - self.tick, self.price
        qty = format_e8(self.last_qty)
        return (
            f'"p":"{format_e8(change)}","P":"{percent}","w":"{format_e8(weighted)}",'
            f'"x":"{format_e8(self.open)}","c":"{format_e8(self.price)}","Q":"{qty}",'
            f'"b":"{format_e8(bid)}","B":"{qty}","a":"{format_e8(ask)}","A":"{qty}",'
            f'"o":"{format_e8(self.open)}","h":"{format_e8(self.high)}",'
            f'"l":"{format_e8(self.low)}","v":"{format_e8(self.volume)}",'
            f'"q":"{format_e8(self.quote)}",'
        ).encode()


def build_firehose(
    specs: Mapping[str, SymbolSpec],
    streams: Sequence[str],
    count: int,
    *,
    combined: bool,
    seed: int,
    start_ms: int,
) -> list[bytes]:
    """``count`` encoded frames cycling over ``streams`` (``<symbol>@ticker`` /
    ``<symbol>@aggTrade`` of symbols in ``specs``), 1 ms of event time apart."""
    rng = random.Random(seed)
    walks: dict[str, _Walk] = {}
    plan: list[tuple[str, _Walk, bool]] = []
    for name in streams:
        symbol, kind = name.split("@", 1)
        upper = symbol.upper()
        if upper not in walks:
            walks[upper] = _Walk(specs[upper], rng, start_ms)
        plan.append((name, walks[upper], kind == "aggTrade"))
    frames: list[bytes] = []
    for index in range(count):
        name, walk, is_trade = plan[index % len(plan)]
        now = start_ms + index
        payload = walk.trade(now) if is_trade else walk.ticker(now)
        frames.append(combine(name, payload) if combined else payload)
    return frames
