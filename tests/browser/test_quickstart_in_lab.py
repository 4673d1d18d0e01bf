"""The quickstart in real JupyterLab and headless Chromium: every panel renders, prices
move, and the order ticket's Buy button opens a position the positions panel shows.

Screenshots land in artifacts/browser/ (``UPDATE_SCREENSHOTS=1`` also refreshes the
README's docs/img/dashboard.png).  Plain sync tests: playwright's sync API cannot run
inside pytest-asyncio's loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

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
from playwright.sync_api import Browser, Page

PANELS = (
    "tw-tickers",
    "tw-positions",
    "tw-portfolio",
    "tw-orders",
    "tw-ticket",
    "tw-status",
    "tw-chart",
)
# A symbol the quickstart subscribes but never trades, so the position the test opens
# from the ticket is the only one on it.
TICKET_SYMBOL = "SOLUSDT"
PRICE_CELL = ".tw-tickers tr.tw-row[data-symbol='BTCUSDT'] .tw-price"


@pytest.fixture(scope="module")
def quickstart(browser: Browser, lab: LabServer) -> Iterator[Page]:
    """The quickstart, run up to its teardown cell: the engine keeps streaming while
    the tests look at the dashboard."""
    # tall enough for the whole dashboard in one screenshot
    page = open_notebook(browser, lab, "quickstart.ipynb", width=1400, height=1900)
    run_all(page, until_tag="teardown")
    try:
        yield page
        # the notebook's own ending: `await ws.stop()` must work from the browser too
        run_tagged(page, "teardown")
        wait_until_run_done(page, timeout_s=60)
        state = notebook_state(page)
        assert state["execution_counts"][-1] is not None, state
        assert not state["errors"], state["errors"]
    finally:
        screenshot(page, "quickstart_final")
        close_page(page)
        lab.shutdown_kernels()


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_every_panel_renders(quickstart: Page) -> None:
    page = quickstart
    for panel in PANELS:
        page.wait_for_selector(f".{panel}", state="attached", timeout=90_000)
    page.wait_for_selector(PRICE_CELL, timeout=30_000)
    wait_until_run_done(page, timeout_s=120)
    state = notebook_state(page)
    assert state["run"] == "done", state
    assert not state["errors"], state["errors"]
    assert not state["widget_errors"], state["widget_errors"]
    assert None not in state["execution_counts"][:-1], state  # all but the teardown cell ran
    for panel in PANELS:
        box = page.locator(f".{panel}").first.bounding_box()
        assert box is not None, f"{panel} is not displayed"
        assert box["width"] > 100, f"{panel} is too narrow: {box}"
        assert box["height"] > 20, f"{panel} is too flat: {box}"
    screenshot(page, "quickstart_dashboard", selector=".tw-dashboard")
    screenshot(page, "quickstart_viewport")
    errors = page_errors(page)
    assert not errors.page, errors.page


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_prices_change_within_a_few_seconds(quickstart: Page) -> None:
    page = quickstart
    cell = page.locator(PRICE_CELL)
    cell.wait_for(timeout=60_000)
    page.wait_for_function(
        "(sel) => { const el = document.querySelector(sel);"
        " return el && /\\d/.test(el.textContent); }",
        arg=PRICE_CELL,
        timeout=30_000,
    )
    first = cell.text_content()
    page.wait_for_function(
        "([sel, before]) => { const el = document.querySelector(sel);"
        " return el && el.textContent !== before; }",
        arg=[PRICE_CELL, first],
        timeout=15_000,
    )


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_ticket_buy_opens_a_position_in_the_positions_panel(quickstart: Page) -> None:
    page = quickstart
    row = page.locator(f".tw-positions tr.tw-row:has(.tw-symbol:text-is('{TICKET_SYMBOL}'))")
    assert row.count() == 0
    ticket = page.locator(".tw-ticket").first
    ticket.scroll_into_view_if_needed()
    ticket.locator("input.tw-symbol").fill(TICKET_SYMBOL)
    ticket.locator("select.tw-type").select_option("MARKET")
    ticket.locator("input.tw-quantity").fill("1")
    ticket.locator("button.tw-buy").click()
    row.first.wait_for(timeout=20_000)
    assert row.first.locator(".tw-side").text_content().strip().lower() in ("buy", "long")
    screenshot(page, "quickstart_after_buy", selector=".tw-positions")


@pytest.mark.browser
@pytest.mark.timeout(180)
def test_dashboard_screenshot_for_the_readme(quickstart: Page) -> None:
    """The README's picture (``UPDATE_SCREENSHOTS=1``): taken once the chart has some
    history, so it shows a line rather than a few seconds of start-up."""
    page = quickstart
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.wait_for_function(
            """() => { const p = document.querySelector('.tw-chart .js-line');
                       return !!p && (p.getAttribute('d') || '').split('L').length >= 60; }""",
            timeout=120_000,
            polling=500,
        )
    shot = screenshot(page, "quickstart_dashboard_readme", selector=".tw-dashboard")
    publish_screenshot(shot, REPO / "docs" / "img" / "dashboard.png")
