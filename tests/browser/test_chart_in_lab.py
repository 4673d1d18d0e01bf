"""The chart panel in real JupyterLab on crafted CANDLES replies (a session in the
notebook that answers ``get_candles`` with generated klines, as the engine does): the
chart shows its history (>= 100 candles) within seconds of being displayed, a
timeframe button redraws it with that timeframe's history, live bars update it in
place, and no candle, button or label is clipped in the light or the dark theme; and
when the kernel dies, the status panel says stopped although no message can say so."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import Browser

from tests.browser.harness import (
    LabServer,
    clipped,
    close_page,
    notebook_state,
    open_notebook,
    page_errors,
    run_all,
    screenshot,
    set_theme,
    wait_until_run_done,
)

NOTEBOOK = "chart_check.ipynb"
CODE = '''
import asyncio, math
from widgets import ChartPanel

STEP = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000,
        "1d": 86_400_000}
NOW = 1_767_225_600_000  # 2026-01-01 00:00 UTC

def klines(interval, limit):
    step = STEP[interval]
    start = NOW - limit * step
    rows = []
    for i in range(limit):
        mid = 97_000 + 800 * math.sin(i / 40) + (i % 7) * 3
        move = 12 if i % 3 else -12  # up and down bars
        rows.append([start + i * step, mid - move, mid + 20, mid - 25, mid + move, 10 + i % 13])
    return rows

class CraftedSession:
    """Answers get_candles like the engine (CANDLES, oldest first); nothing else."""
    def __init__(self):
        self.listeners = []
    def listen(self, listener):
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)
    async def stream(self):
        if False:
            yield {}
    async def request(self, command):
        if command["action"] == "get_candles":
            limit = min(int(command.get("limit", 500)), 1000)
            return {"type": "CANDLES", "symbol": command["symbol"],
                    "interval": command["interval"],
                    "candles": klines(command["interval"], limit), "timestamp": NOW}
        if command["action"] == "get_orders":
            return {"type": "ORDERS", "orders": [], "seq": 0, "timestamp": NOW}
        if command["action"] == "get_positions":
            return {"type": "POSITION_UPDATE", "positions": [], "timestamp": NOW}
        if command["action"] == "subscribe_ticker":
            return {"type": "SUBSCRIBED", "symbol": command["symbol"], "timestamp": NOW,
                    "symbol_info": {"price_precision": 2, "tick_size": "0.01"}}
        return {"type": "ERROR", "code": "UNKNOWN_ACTION", "message": command["action"]}
    def emit(self, message):
        for listener in list(self.listeners):
            listener(message)

import ipywidgets
from widgets import StatusPanel
session = CraftedSession()
chart = ChartPanel(session, "BTCUSDT", poll=None)
status = StatusPanel(session)
ipywidgets.VBox([status, chart])
'''.strip()


def notebook(code: str) -> str:
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "metadata": {},
                    "outputs": [],
                    "source": code,
                }
            ],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_history_timeframes_and_live_bars_on_crafted_candles(
    browser: Browser, lab: LabServer
) -> None:
    (lab.root / NOTEBOOK).write_text(notebook(CODE))
    page = open_notebook(browser, lab, NOTEBOOK, width=1600, height=1000)
    chart = ".tw-chart"
    try:
        started = time.monotonic()
        run_all(page)
        page.wait_for_function(
            "(sel) => +(document.querySelector(sel)?.dataset.candles || 0) >= 100",
            arg=chart,
            timeout=30_000,
        )
        shown_after_s = time.monotonic() - started
        wait_until_run_done(page)
        state = notebook_state(page)
        assert not state["errors"], state["errors"]
        root = page.locator(chart).first
        assert root.get_attribute("data-candles") == "1000"
        assert root.get_attribute("data-source") == "exchange"
        # the newest candle leaves room for the order lines' tags ("ENTRY" is ~50 px):
        # they covered the newest candles and their fill markers
        assert int(root.get_attribute("data-free-right") or 0) >= 56
        # the canvas has drawn: candles are pixels, not only data
        assert root.locator("canvas").count() >= 2
        resets = int(root.get_attribute("data-resets") or 0)
        root.locator("button.tw-timeframe[data-timeframe='1h']").click()
        page.wait_for_function(
            "([sel, n]) => { const c = document.querySelector(sel);"
            " return c.dataset.timeframe === '1h' && +c.dataset.resets > n; }",
            arg=[chart, resets],
            timeout=15_000,
        )
        legend = root.locator(".tw-legend").text_content() or ""
        assert "BTCUSDT 1h" in legend, legend
        assert int(root.get_attribute("data-free-right") or 0) >= 56  # every reset
        assert re.search(r"O \d{2},\d{3}\.\d{2}", legend), legend  # grouped, 2 decimals
        # a live bar after the history: appended in place, no reset
        resets = int(root.get_attribute("data-resets") or 0)
        page.evaluate(
            """() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel
                .requestExecute({code: "chart.state.merge_candles('BTCUSDT', '1h', "
                  + "[[NOW, 97000, 97100, 96900, 97050, 5]]); chart._queue("
                  + "chart.state.candles('BTCUSDT', '1h')[-1:]); chart.changed()"}).done"""
        )
        page.wait_for_function(
            "(sel) => +document.querySelector(sel).dataset.candles === 1001",
            arg=chart,
            timeout=15_000,
        )
        assert int(root.get_attribute("data-resets") or 0) == resets
        for theme in ("dark", "light"):
            set_theme(page, theme)
            assert clipped(page, chart) == [], theme
            screenshot(page, f"chart_crafted_{theme}", selector=chart)
        assert root.locator(".tw-error").is_hidden()  # no error banner
        assert not page_errors(page).page, page_errors(page).page
        # a dead kernel sends no last STATUS: the page asks JupyterLab's kernel connection
        feed = ".tw-status .tw-feed-state"
        assert page.locator(feed).text_content() != "stopped"
        page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.session.shutdown()"
        )
        page.wait_for_function(
            "(sel) => document.querySelector(sel)?.textContent === 'stopped'",
            arg=feed,
            timeout=15_000,
        )
        print(
            f"chart showed {root.get_attribute('data-candles')} candles {shown_after_s:.1f} s "
            "after Run All"
        )
    finally:
        close_page(page)
        lab.shutdown_kernels()
