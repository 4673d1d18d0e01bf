"""The strategy lab in real JupyterLab: the backtest's plotly figure (a ThemedFigure)
renders with all five traces, in the theme's colours, and the live section's dashboard
comes up, without a cell or JavaScript error."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.browser.harness import (
    REPO,
    LabServer,
    close_page,
    notebook_state,
    open_notebook,
    page_errors,
    publish_screenshot,
    run_all,
    run_tagged,
    screenshot,
    set_theme,
    wait_until_run_done,
)

FIGURE = ".tw-figure"


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_backtest_figure_and_live_dashboard_render(browser: Browser, lab: LabServer) -> None:
    page = open_notebook(browser, lab, "strategy_lab.ipynb", width=1400, height=1900)
    try:
        run_all(page, until_tag="teardown")
        page.wait_for_selector(f"{FIGURE} .main-svg", timeout=120_000)
        # price, buys, sells, equity, drawdown
        page.wait_for_function(
            "(sel) => document.querySelectorAll(sel + ' .scatterlayer .trace').length >= 5",
            arg=FIGURE,
            timeout=30_000,
        )
        page.wait_for_selector(".tw-dashboard .tw-tickers tr.tw-row", timeout=60_000)
        wait_until_run_done(page, timeout_s=120)
        state = notebook_state(page)
        assert state["run"] == "done", state
        assert not state["errors"], state["errors"]
        assert not state["widget_errors"], state["widget_errors"]
        shot = screenshot(page, "strategy_lab_backtest", selector=FIGURE)
        publish_screenshot(shot, REPO / "docs" / "img" / "strategy_lab.png")
        # the dark theme: the figure follows (transparent paper, the theme's text colour)
        set_theme(page, "dark")
        page.wait_for_function(
            "(sel) => document.querySelector(sel)?.dataset.theme === 'dark'", arg=FIGURE
        )
        colours = page.evaluate(
            """(sel) => {
                const svg = document.querySelector(sel + ' .main-svg');
                const paper = svg.querySelector('rect.bg') || svg.querySelector('rect');
                const tick = document.querySelector(sel + ' .ytick text');
                // plotly writes a transparent colour as its rgb with fill-opacity 0
                return {paper: paper && getComputedStyle(paper).fillOpacity,
                        text: getComputedStyle(tick).fill,
                        theme: getComputedStyle(document.documentElement)
                          .getPropertyValue('--jp-ui-font-color1').trim()};
            }""",
            FIGURE,
        )
        assert colours["paper"] == "0", colours  # the page's dark shows through
        # light text on the dark page (the theme's font colour), not plotly's dark grey
        r, g, b = (int(v) for v in colours["text"].strip("rgba() ").split(",")[:3])
        assert r + g + b > 3 * 128, colours
        screenshot(page, "strategy_lab_backtest_dark", selector=FIGURE)
        set_theme(page, "light")
        run_tagged(page, "teardown")
        wait_until_run_done(page, timeout_s=60)
        assert not notebook_state(page)["errors"]
        # the live dashboard says its workspace stopped (the final screenshot once showed
        # "connected" beside a ticket already saying stopped)
        page.wait_for_function(
            "() => document.querySelector('.tw-status .tw-feed-state')?.textContent === 'stopped'",
            timeout=10_000,
        )
        assert not page_errors(page).page, page_errors(page).page
    finally:
        screenshot(page, "strategy_lab_final")
        close_page(page)
        lab.shutdown_kernels()
