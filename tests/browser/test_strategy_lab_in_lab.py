"""The strategy lab in real JupyterLab: the backtest's plotly figure renders (the
plotly extension is installed in the server's environment) with all five traces, and
the live section's dashboard comes up, without a cell or JavaScript error."""

from __future__ import annotations

import pytest
from harness import (
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
    wait_until_run_done,
)
from playwright.sync_api import Browser

FIGURE = ".jp-RenderedPlotly"


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
        run_tagged(page, "teardown")
        wait_until_run_done(page, timeout_s=60)
        assert not notebook_state(page)["errors"]
        assert not page_errors(page).page, page_errors(page).page
    finally:
        screenshot(page, "strategy_lab_final")
        close_page(page)
        lab.shutdown_kernels()
