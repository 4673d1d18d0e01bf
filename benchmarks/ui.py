"""UI benchmark: the dashboard in real JupyterLab (headless Chromium) with 20 symbols
streaming from the simulator (in its own process by default, like a remote exchange;
``--sim-in-kernel`` embeds it in the kernel as ``Workspace(feed="sim")`` does), the
chart in candles mode with 1,000 candles of history and the order book panel live.
The chart's history is the engine's klines (``get_candles``, limit 1000); an engine
without them gets 1,000 generated 1 m candles around the live price, so the chart
always carries the same load (the output says which).

Measures, after a warm-up, over a sampling window:
- render latency: kernel flush (``sent_ms``) to DOM updated, p50 / p99 (every panel
  records it in ``globalThis.__twUi``);
- event age: engine/exchange timestamp of the newest data in a flush to DOM updated,
  p50 / p99 (includes the feed and the <= 100 ms coalescing wait);
- DOM updates per second: panel renders per second, in total and for the busiest panel
  (target <= 10 per panel), and MutationObserver batches per second per panel;
- kernel-to-browser traffic: IOPub messages per second as JupyterLab's kernel
  connection receives them (target < 200), and how many of those are comm messages;
- where the time goes: kernel send -> front end receipt of each comm message (the
  kernel's ``header.date``), and the panels' own JS time per render;
- kernel responsiveness: round trip of a trivial execute request while streaming.

Prints readable figures, then one JSON object as the last line.

    .venv/bin/python benchmarks/ui.py [--sample 20] [--warmup 5] [--tick 0.1]

Uses the browser harness of ``tests/browser/harness.py`` (JupyterLab from this venv,
Debian's /usr/bin/chromium through playwright).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "browser"))

from harness import (  # noqa: E402  (the harness lives with the browser tests)
    LabServer,
    chromium,
    close_page,
    notebook_state,
    open_notebook,
    page_errors,
    run_all,
    wait_until_run_done,
)

ARTIFACTS = REPO / "artifacts" / "bench"

# ten symbols beyond the simulator's defaults, to stream 20
EXTRA_SYMBOLS = [
    ("DOT", "7"),
    ("ATOM", "9"),
    ("NEAR", "5"),
    ("UNI", "12"),
    ("AAVE", "300"),
    ("FIL", "5.5"),
    ("APT", "10"),
    ("ARB", "0.8"),
    ("OP", "2.1"),
    ("SUI", "4"),
]

SPECS = """\
from decimal import Decimal
from workspace.sim import SimConfig
from workspace.sim.config import DEFAULT_SYMBOLS, SymbolSpec

extra = tuple(
    SymbolSpec(symbol=f"{base}USDT", base_asset=base, quote_asset="USDT", price=Decimal(price),
               tick_size=Decimal("0.0001"), step_size=Decimal("0.01"), volatility=0.9)
    for base, price in EXTRA
)
specs = (*DEFAULT_SYMBOLS, *extra)[:N_SYMBOLS]
SYMBOLS = [spec.symbol for spec in specs]
SIM = SimConfig(symbols=specs, seed=3, ticker_interval_s=TICK)
"""

# The simulator in its own process, like Binance is remote: the kernel runs only what
# it runs in real use (feed client, engine, panels).
SIM_PROCESS = """\
import asyncio, sys
from workspace.sim import ExchangeSimulator

async def main():
    sim = ExchangeSimulator(SIM)
    await sim.start(host="127.0.0.1", port=0)
    print(sim.stream_url, sim.rest_url, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until stdin closes
    await sim.stop()

asyncio.run(main())
"""

SETUP_REMOTE = """\
import asyncio
from workspace import Workspace
from workspace.market.config import FeedConfig
ws = Workspace(feed="binance", feed_config=FeedConfig(stream_url=STREAM_URL, rest_url=REST_URL))
await ws.start()
board = ws.dashboard(symbols=SYMBOLS, chart=CHART)
board
"""

SETUP_EMBEDDED = """\
import asyncio
from workspace import Workspace
ws = Workspace(feed="sim", sim=SIM)
await ws.start()
board = ws.dashboard(symbols=SYMBOLS, chart=CHART)
board
"""

ORDERS = """\
async def priced():
    while len([r for r in board.tickers.rows if r.get("price")]) < 2:
        await board.tickers.next_flush()
await asyncio.wait_for(priced(), 60)
# a position and live orders, so the positions, orders and chart panels move too
await ws.request({"action": "place_order", "symbol": "BTCUSDT", "side": "BUY",
                  "type": "MARKET", "quantity": 0.01})
await ws.request({"action": "place_order", "symbol": "BTCUSDT", "side": "SELL",
                  "type": "TRAILING_STOP", "quantity": 0.01, "trail_percent": 2.0})
await ws.request({"action": "place_order", "symbol": "ETHUSDT", "side": "BUY",
                  "type": "LIMIT", "quantity": 0.1, "price": 3000})
print("orders placed")
"""

# the chart at 1,000 candles: the engine's own, or generated ones if it has none
CHART_HISTORY = """\
if board.chart is not None:
    async def loaded():
        while not board.chart.source:
            await board.chart.next_flush()
    await asyncio.wait_for(loaded(), 60)
    CHART_SOURCE = board.chart.source
    if board.chart.source != "exchange" or len(board.chart.state.candles("BTCUSDT", "1m")) < 1000:
        import time as _time
        last = float(board.tickers.state.row("BTCUSDT")["price"])
        now = int(_time.time() * 1000)
        start = now - now % 60_000 - 999 * 60_000
        rows = [[start + i * 60_000, last, last * 1.0004, last * 0.9996, last, 1.0 + i % 7]
                for i in range(1000)]
        board.chart.state.set_candles("BTCUSDT", "1m", rows)
        board.chart.source = "exchange"
        board.chart._send_reset()
        CHART_SOURCE = "generated (the engine serves fewer than 1,000 klines)"
    print("chart history:", CHART_SOURCE, len(board.chart.state.candles("BTCUSDT", "1m")))
"""

# JupyterLab's kernel connection: count IOPub messages as the front end receives them
COUNT_IOPUB = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const kernel = w.sessionContext.session.kernel;
  window.__twIo = { iopub: 0, comm: 0, transport: [], bytes: [] };
  kernel.iopubMessage.connect((_, msg) => {
    window.__twIo.iopub++;
    if (msg.header.msg_type !== 'comm_msg') return;
    window.__twIo.comm++;
    window.__twIo.bytes.push(JSON.stringify(msg.content).length);
    // the kernel stamps every message (header.date): kernel send -> front end receives
    const sent = Date.parse(msg.header.date);
    if (Number.isFinite(sent)) window.__twIo.transport.push(Date.now() - sent);
  });
}"""

START_SAMPLING = """() => {
  const ui = globalThis.__twUi;
  ui.render.length = 0; ui.age.length = 0; ui.at.length = 0; ui.work.length = 0;
  if (ui.sent) ui.sent.length = 0;  // parallel to render: the status panel indexes both
  for (const k of Object.keys(ui.workBy || {})) ui.workBy[k].length = 0;
  const mutations = {};
  window.__twObservers = [];
  for (const root of document.querySelectorAll('.tw-panel')) {
    const name = [...root.classList].find((c) => c !== 'tw-panel');
    mutations[name] = 0;
    const observer = new MutationObserver(() => { mutations[name]++; });
    observer.observe(root, {
      subtree: true, childList: true, characterData: true, attributes: true,
    });
    window.__twObservers.push(observer);
  }
  window.__twIo.transport.length = 0;
  window.__twIo.bytes.length = 0;
  window.__twSample = {
    t0: performance.now(), io: { ...window.__twIo }, updates: { ...ui.updates }, mutations,
  };
}"""

STOP_SAMPLING = """() => {
  const s = window.__twSample;
  for (const o of window.__twObservers) o.disconnect();
  const ui = globalThis.__twUi;
  const updates = {};
  for (const [k, v] of Object.entries(ui.updates)) updates[k] = v - (s.updates[k] || 0);
  return {
    seconds: (performance.now() - s.t0) / 1000,
    iopub: window.__twIo.iopub - s.io.iopub,
    comm: window.__twIo.comm - s.io.comm,
    transport: [...window.__twIo.transport],
    render: [...ui.render],
    age: ui.age.filter((v) => Number.isFinite(v)),
    work: [...ui.work],
    workBy: Object.fromEntries(Object.entries(ui.workBy || {}).map(([k, v]) => [k, [...v]])),
    comm_bytes: [...window.__twIo.bytes],
    updates,
    mutations: s.mutations,
    rows: document.querySelectorAll('.tw-tickers tr.tw-row').length,
  };
}"""

# a trivial execute request while everything streams: is the kernel responsive?
EXEC_ROUNDTRIP = """async (n) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const times = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const future = kernel.requestExecute({ code: 'pass', silent: false, store_history: false });
    const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), 10000));
    const outcome = await Promise.race([future.done, timeout]);
    times.push(outcome === 'timeout' ? 10000 : performance.now() - t);
  }
  return times;
}"""


def step(started: float, what: str) -> None:
    print(f"[{time.monotonic() - started:6.1f} s] {what}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def prelude(args: argparse.Namespace) -> str:
    return (
        f"EXTRA = {EXTRA_SYMBOLS!r}\nN_SYMBOLS = {args.symbols}\nTICK = {args.tick}\n"
        f"CHART = {args.chart}\n{SPECS}"
    )


def start_simulator(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", prelude(args) + SIM_PROCESS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    stream_url, rest_url = proc.stdout.readline().split()
    return proc, stream_url, rest_url


def stop_simulator(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()  # only the process this benchmark started, by its handle
        proc.wait(timeout=15)


def build_notebook(folder: Path, args: argparse.Namespace, urls: tuple[str, str] | None) -> str:
    nb = nbformat.v4.new_notebook()
    if urls is None:
        setup = prelude(args) + SETUP_EMBEDDED
    else:
        setup = f"{prelude(args)}STREAM_URL = {urls[0]!r}\nREST_URL = {urls[1]!r}\n{SETUP_REMOTE}"
    nb.cells = [
        nbformat.v4.new_code_cell(setup),
        nbformat.v4.new_code_cell(ORDERS),
        nbformat.v4.new_code_cell(CHART_HISTORY),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    name = "ui_benchmark.ipynb"
    nbformat.write(nb, folder / name)
    return name


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    simulator = None
    urls = None
    if not args.sim_in_kernel:
        simulator, stream_url, rest_url = start_simulator(args)
        urls = (stream_url, rest_url)
        step(started, f"simulator process at {stream_url}")
    with contextlib.ExitStack() as cleanup:
        if simulator is not None:
            cleanup.callback(stop_simulator, simulator)
        folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="tw-ui-bench-")))
        name = build_notebook(folder, args, urls)
        with LabServer(folder) as lab, chromium() as browser:
            step(started, f"JupyterLab on port {lab.port}")
            page = open_notebook(browser, lab, name, width=1400, height=1400)
            step(started, "notebook open, kernel idle")
            try:
                page.evaluate(COUNT_IOPUB)
                run_all(page)
                wait_until_run_done(page, timeout_s=120)
                step(started, "cells ran")
                state = notebook_state(page)
                if state["errors"]:
                    raise RuntimeError(f"notebook failed: {state['errors']}")
                page.wait_for_function(
                    "(n) => document.querySelectorAll('.tw-tickers tr.tw-row').length >= n",
                    arg=args.symbols,
                    timeout=60_000,
                )
                if args.chart:
                    page.wait_for_function(
                        "() => +(document.querySelector('.tw-chart')?.dataset.candles || 0)"
                        " >= 1000",
                        timeout=60_000,
                    )
                # the book panel live on the engine's local book: a full ladder (10 a side)
                page.wait_for_function(
                    "() => +(document.querySelector('.tw-book')?.dataset.levels || 0) >= 20",
                    timeout=60_000,
                )
                book_levels = page.evaluate(
                    "() => +(document.querySelector('.tw-book')?.dataset.levels || 0)"
                )
                chart_candles = page.evaluate(
                    "() => +(document.querySelector('.tw-chart')?.dataset.candles || 0)"
                )
                chart_history = page.evaluate(
                    "() => [...document.querySelectorAll('.jp-OutputArea-output')]"
                    ".map(e => e.textContent).find(t => t.startsWith('chart history:')) || ''"
                )
                step(started, "every ticker row rendered; warming up")
                page.wait_for_timeout(args.warmup * 1000)  # let startup (plotly.js load) pass
                page.evaluate(START_SAMPLING)
                page.wait_for_timeout(args.sample * 1000)
                sample = page.evaluate(STOP_SAMPLING)
                step(started, "sampled")
                roundtrips = page.evaluate(EXEC_ROUNDTRIP, 10)
                step(started, "kernel round trips measured")
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                shot = ARTIFACTS / "ui_dashboard.png"
                # the whole page: an element shot waits for "stable", and prices flash
                page.screenshot(path=str(shot), animations="disabled")
                step(started, "screenshot saved")
                errors = page_errors(page)
            finally:
                close_page(page)
    seconds = sample["seconds"]
    updates = {k: v / seconds for k, v in sorted(sample["updates"].items())}
    mutations = {k: v / seconds for k, v in sorted(sample["mutations"].items())}
    return {
        "seconds": seconds,
        "sample": sample,
        "updates": updates,
        "mutations": mutations,
        "roundtrips": roundtrips,
        "errors": errors.console + errors.page,
        "screenshot": str(shot),
        "total_s": time.monotonic() - started,
        "chart_candles": chart_candles,
        "book_levels": book_levels,
        "chart_history": chart_history.strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20, help="symbols streaming (<= 20)")
    parser.add_argument(
        "--tick",
        type=float,
        default=0.1,
        help="simulator 24h-ticker interval per symbol, s (0.1 = 10/s each)",
    )
    parser.add_argument(
        "--no-chart", dest="chart", action="store_false", help="dashboard without the chart"
    )
    parser.add_argument(
        "--sim-in-kernel",
        action="store_true",
        help="embed the simulator in the kernel (Workspace(feed='sim'))",
    )
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before sampling")
    parser.add_argument("--sample", type=float, default=20.0, help="sampling window, s")
    args = parser.parse_args()
    result = run(args)
    sample = result["sample"]
    seconds = result["seconds"]
    render, age = sample["render"], sample["age"]
    figures = {
        "symbols": args.symbols,
        "feed": "sim in kernel" if args.sim_in_kernel else "sim in its own process",
        "market_updates_offered_per_s": round(args.symbols / args.tick, 1),
        "sample_s": round(seconds, 1),
        "render_p50_ms": percentile(render, 50),
        "render_p99_ms": percentile(render, 99),
        "render_samples": len(render),
        "transport_p50_ms": percentile(sample["transport"], 50),
        "transport_p99_ms": percentile(sample["transport"], 99),
        "panel_js_p50_ms": round(percentile(sample["work"], 50) or 0.0, 2),
        "panel_js_p99_ms": round(percentile(sample["work"], 99) or 0.0, 2),
        # main-thread ms per render, per panel
        "panel_js_p99_ms_by_panel": {
            panel: round(percentile(times, 99) or 0.0, 2)
            for panel, times in sorted(sample["workBy"].items())
        },
        "panel_js_p50_ms_by_panel": {
            panel: round(percentile(times, 50) or 0.0, 3)
            for panel, times in sorted(sample["workBy"].items())
        },
        "chart_candles": result["chart_candles"],
        "book_levels": result["book_levels"],
        "comm_msg_bytes_p50": percentile(sample["comm_bytes"], 50),
        "comm_msg_bytes_max": max(sample["comm_bytes"], default=None),
        "age_p50_ms": percentile(age, 50),
        "age_p99_ms": percentile(age, 99),
        "dom_updates_per_s": round(sum(result["updates"].values()), 1),
        "max_panel_updates_per_s": round(max(result["updates"].values(), default=0.0), 1),
        "iopub_msgs_per_s": round(sample["iopub"] / seconds, 1),
        "comm_msgs_per_s": round(sample["comm"] / seconds, 1),
        "kernel_exec_roundtrip_p50_ms": round(statistics.median(result["roundtrips"]), 1),
        "kernel_exec_roundtrip_max_ms": round(max(result["roundtrips"]), 1),
        "ticker_rows": sample["rows"],
        "browser_errors": len(result["errors"]),
    }
    print(
        f"UI benchmark ({figures['feed']}): {args.symbols} symbols, "
        f"{figures['market_updates_offered_per_s']} "
        f"market updates/s offered, {figures['sample_s']} s sampled "
        f"(after {args.warmup} s warm-up), total run {result['total_s']:.0f} s"
    )
    print(
        f"  render latency (kernel flush -> DOM): p50 {figures['render_p50_ms']} ms, "
        f"p99 {figures['render_p99_ms']} ms over {len(render)} renders   (target p99 <= 50)"
    )
    print(
        f"    of which kernel send -> front end receives (comm msgs, header.date): p50 "
        f"{figures['transport_p50_ms']} ms, p99 {figures['transport_p99_ms']} ms"
    )
    print(
        f"    panels' own JS per render: p50 "
        f"{figures['panel_js_p50_ms']} ms, p99 {figures['panel_js_p99_ms']} ms"
    )
    print("      JS time per update, per panel (ms):   p50      p99   updates")
    for panel, times in sorted(sample["workBy"].items()):
        print(
            f"        {panel:14s} {percentile(times, 50) or 0.0:8.3f} "
            f"{percentile(times, 99) or 0.0:8.3f} {len(times):8d}"
        )
    print(f"  chart: {figures['chart_candles']} candles; {result['chart_history']}")
    print(f"  book panel: {figures['book_levels']} levels of the engine's local book")
    print(
        f"  event age (engine timestamp -> DOM):  p50 {figures['age_p50_ms']} ms, "
        f"p99 {figures['age_p99_ms']} ms (includes feed and <= 100 ms coalescing)"
    )
    print(
        f"  DOM updates: {figures['dom_updates_per_s']}/s in total, busiest panel "
        f"{figures['max_panel_updates_per_s']}/s   (target <= 10 per panel)"
    )
    for panel, rate in result["updates"].items():
        print(
            f"    {panel:14s} {rate:5.1f} renders/s   {result['mutations'].get(panel, 0):6.1f} "
            "mutation batches/s"
        )
    print(
        f"  kernel -> browser: {figures['iopub_msgs_per_s']} IOPub msgs/s "
        f"({figures['comm_msgs_per_s']} comm msgs/s)   (target < 200)"
    )
    print(
        f"  kernel responsiveness: execute round trip p50 "
        f"{figures['kernel_exec_roundtrip_p50_ms']} ms, max "
        f"{figures['kernel_exec_roundtrip_max_ms']} ms"
    )
    if result["errors"]:
        print(f"  browser errors: {result['errors'][:3]}")
    print(f"  screenshot: {result['screenshot']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
