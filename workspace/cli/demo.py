"""``python -m workspace demo``: the notebook's main job, headless, as a text view.

Starts the engine on the embedded simulator, subscribes a few symbols, places a
market order, an OCO, a trailing stop and a bracket, and prints prices, positions,
the portfolio and every order event until ``--duration`` runs out or Ctrl-C.

It drives the engine only through the session interface (``listen`` / ``request``
with PROTOCOL.md commands), exactly as a panel or a remote client would, so what it
prints is what any client sees.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from workspace.cli.args import positive_seconds
from workspace.errors import WorkspaceError
from workspace.session import Command, Message

if TYPE_CHECKING:
    from workspace.notebook.workspace import Workspace

HELP = "run the engine headless on the simulator with a live text view"

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT")
# Order sizes worth a few hundred USDT at the simulator's price levels.
NOTIONAL_USDT = 500.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration",
        type=positive_seconds,
        default=None,
        help="seconds to run after the orders are placed (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--symbols",
        default=",".join(DEFAULT_SYMBOLS),
        help="comma-separated symbols, at least one (default: %(default)s)",
    )
    parser.add_argument(
        "--feed",
        default="sim",
        help="sim (default), binance, or replay:PATH (kline CSV/ZIP files or a recorded "
        "session, played once at full speed); orders stay on the paper account",
    )
    parser.add_argument(
        "--interval",
        type=positive_seconds,
        default=1.0,
        help="seconds between price/portfolio lines",
    )
    parser.add_argument("--no-orders", action="store_true", help="only watch, place nothing")


# -- the text view (pure: message in, line out) ------------------------------------


def _num(value: Any, digits: int | None = None) -> str:
    """``digits`` decimals; by default as many as a price of that size needs
    (97,005.46 but 2.2044 and 0.350120)."""
    if value is None or value == "":
        return "-"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if digits is None:
        digits = 2 if abs(number) >= 100 else 4 if abs(number) >= 1 else 6
    return f"{number:,.{digits}f}"


def _signed(value: Any, digits: int = 2) -> str:
    try:
        return f"{float(value):+,.{digits}f}"
    except (TypeError, ValueError):
        return "-"


def format_prices(latest: dict[str, Message]) -> str:
    parts = []
    for symbol in sorted(latest):
        m = latest[symbol]
        parts.append(f"{symbol} {_num(m.get('price'))} ({_signed(m.get('priceChangePercent'))}%)")
    return "prices    " + "  ".join(parts)


def format_order(msg: Message) -> str:
    order = msg.get("order", {})
    text = (
        f"order     {msg.get('orderType', order.get('type', '?')):<13} "
        f"{order.get('symbol', '?'):<8} {order.get('side', '?'):<4} "
        f"qty {_num(order.get('quantity'), 4)} {order.get('status', '?')}"
    )
    if order.get("fill_price") is not None:
        text += f" @ {_num(order['fill_price'])}"
    if order.get("current_stop_price") is not None:
        text += f" stop {_num(order['current_stop_price'])}"
    if order.get("reason"):
        text += f" ({order['reason']})"
    legs = order.get("legs") or []
    if legs:
        text += " legs " + ",".join(
            f"{leg.get('role') or leg.get('type', '?')}:{leg.get('status', '?')}" for leg in legs
        )
    return f"{text} seq={msg.get('seq', '-')}"


def format_positions(msg: Message) -> str:
    rows = [p for p in msg.get("positions", []) if p.get("status", "open") == "open"]
    if not rows:
        return "positions (none)"
    return "positions " + "  ".join(
        f"{p.get('symbol')} {p.get('type')} {_num(p.get('quantity'), 4)}"
        f" @ {_num(p.get('entry_price'))} pnl {_signed(p.get('current_pnl'))}"
        for p in rows
    )


def format_portfolio(msg: Message) -> str:
    p = msg.get("portfolio", {})
    return (
        f"portfolio balance {_num(p.get('balance'))} equity {_num(p.get('equity'))}"
        f" pnl {_signed(p.get('total_pnl'))} realized {_signed(p.get('realized_pnl'))}"
        f" open {p.get('positions_count', '-')}"
    )


class TextView:
    """Collects the session's messages; order events print at once, the rest is
    summarised every ``interval`` seconds (an eye can't follow 10 updates a second)."""

    def __init__(self, out: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.clock = clock
        self.prices: dict[str, Message] = {}
        self.positions: Message | None = None
        self.portfolio: Message | None = None
        self.feed: str | None = None
        self.order_events = 0
        # set on every message: waiters (first prices) wake on it instead of polling
        self.changed = asyncio.Event()

    def line(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", file=self.out, flush=True)

    def on_message(self, msg: Message) -> None:
        self.changed.set()
        kind = msg.get("type")
        if kind == "MARKET_UPDATE":
            self.prices[str(msg.get("symbol"))] = msg
        elif kind == "ORDER_UPDATE":
            self.order_events += 1
            self.line(format_order(msg))
        elif kind == "POSITION_UPDATE":
            self.positions = msg
        elif kind == "PORTFOLIO_UPDATE":
            self.portfolio = msg
        elif kind == "STATUS":
            feed = f"{msg.get('feed')} ({msg.get('source', '?')})"
            if feed != self.feed:
                self.feed = feed
                self.line(f"feed      {feed}")
        elif kind == "ALERT":
            self.line(f"alert     {msg.get('symbol')} {msg.get('condition')} {msg.get('price')}")
        elif kind == "ERROR":
            self.line(f"error     {msg.get('code')}: {msg.get('message')}")

    def summary(self) -> None:
        if self.prices:
            self.line(format_prices(self.prices))
        if self.positions is not None:
            self.line(format_positions(self.positions))
        if self.portfolio is not None:
            self.line(format_portfolio(self.portfolio))


# -- the job -------------------------------------------------------------------------


class DemoError(RuntimeError):
    pass


async def checked(request: Callable[[Command], Any], command: Command) -> Message:
    reply: Message = await request(command)
    if reply.get("type") == "ERROR":
        raise DemoError(f"{command['action']} failed: {reply.get('code')} {reply.get('message')}")
    return reply


def sized(price: float) -> float:
    """A quantity worth about NOTIONAL_USDT, to 2 significant digits (coarse enough
    for any symbol's step size)."""
    return float(f"{NOTIONAL_USDT / price:.2g}")


def level(price: float, factor: float) -> float:
    """``price * factor`` to 6 significant digits: on the tick grid of BTC (0.01) as
    of a 2-dollar coin (0.0001), where rounding to cents would not be."""
    return float(f"{price * factor:.6g}")


async def place_demo_orders(
    request: Callable[[Command], Any], view: TextView, symbols: Sequence[str]
) -> None:
    def price(symbol: str) -> float:
        return float(view.prices[symbol]["price"])

    first = symbols[0]
    qty = sized(price(first))
    await checked(request, _order(first, "BUY", "MARKET", qty))
    # exits around the market buy: whichever of take-profit / stop hits first
    p = price(first)
    oco = _order(first, "SELL", "OCO", qty, take_profit=level(p, 1.002), stop_price=level(p, 0.998))
    await checked(request, oco)
    second = symbols[1 % len(symbols)]
    qty2 = sized(price(second))
    await checked(request, _order(second, "BUY", "MARKET", qty2))
    await checked(request, _order(second, "SELL", "TRAILING_STOP", qty2, trail_percent=0.1))
    third = symbols[2 % len(symbols)]
    p3 = price(third)
    bracket = _order(
        third, "BUY", "BRACKET", sized(p3), take_profit=level(p3, 1.002), stop_loss=level(p3, 0.998)
    )
    await checked(request, bracket)


def _order(symbol: str, side: str, kind: str, quantity: float, **prices: float) -> Command:
    return {
        "action": "place_order",
        "symbol": symbol,
        "side": side,
        "type": kind,
        "quantity": quantity,
        **prices,
    }


async def wait_for_prices(view: TextView, symbols: Sequence[str]) -> None:
    while not all(s in view.prices for s in symbols):
        view.changed.clear()
        await view.changed.wait()


async def run_demo(args: argparse.Namespace, out: TextIO) -> int:
    import workspace  # the engine is a heavy import: only for this command

    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    if not symbols:
        print("error: --symbols names no symbol", file=sys.stderr)
        return 2
    view = TextView(out)
    try:
        ws = workspace.Workspace(feed=args.feed)
    except WorkspaceError as e:  # a malformed --feed
        print(f"error: {e}", file=sys.stderr)
        return 2
    with stop_on_signals(stop := asyncio.Event()):
        return await _run(args, view, symbols, stop, ws)


async def _run(
    args: argparse.Namespace,
    view: TextView,
    symbols: list[str],
    stop: asyncio.Event,
    ws: Workspace,
) -> int:
    view.line(f"starting the engine on feed={args.feed}")
    try:
        await ws.start()
    except WorkspaceError as e:  # e.g. no connection to the exchange, missing replay file
        view.line(f"error     the engine did not start: {e}")
        return 1
    try:
        status = ws.status
        view.on_message({"type": "STATUS", "feed": status["feed"], "source": status["source"]})
        stop_listening = ws.listen(view.on_message)
        try:
            for symbol in symbols:
                await checked(ws.request, {"action": "subscribe_ticker", "symbol": symbol})
            if ws.feed_kind == "replay":
                # a recording plays once, as fast as the engine goes; the view ends with it
                replay = asyncio.create_task(ws.run(), name="demo.replay")
                replay.add_done_callback(lambda task: replay_done(task, view, stop))
            async with asyncio.timeout(30):
                await wait_for_prices(view, symbols)
            view.summary()
            if not args.no_orders:
                await place_demo_orders(ws.request, view, symbols)
            await watch(view, args.duration, args.interval, stop)
        finally:
            stop_listening()
    except DemoError as e:
        view.line(f"error     {e}")
        return 1
    except TimeoutError:
        view.line("error     no prices within 30 s")
        return 1
    finally:
        view.line("stopping")
        await ws.stop()
        view.line(f"stopped ({view.order_events} order events)")
    return 0


def replay_done(task: asyncio.Task[Any], view: TextView, stop: asyncio.Event) -> None:
    if not task.cancelled() and task.exception() is not None:
        view.line(f"error     the replay failed: {task.exception()!r}")
    else:
        view.line("replay    finished")
    stop.set()


async def watch(
    view: TextView, duration: float | None, interval: float, stop: asyncio.Event
) -> None:
    """Summaries every ``interval`` s until ``duration`` is over or ``stop`` is set."""
    loop = asyncio.get_running_loop()
    end = None if duration is None else loop.time() + duration
    while not stop.is_set() and (end is None or loop.time() < end):
        remaining = interval if end is None else min(interval, end - loop.time())
        with contextlib.suppress(TimeoutError):  # the view's refresh cadence
            await asyncio.wait_for(stop.wait(), max(remaining, 0))
        view.summary()


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM set ``stop`` instead of interrupting whatever runs: the demo
    then leaves its watch loop and stops the engine the normal way (exit status 0)."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(run_demo(args, sys.stdout))
