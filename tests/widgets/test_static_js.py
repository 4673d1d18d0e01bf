"""The panels' pure browser helpers, run in Node: order legs and a bracket's phase,
chart line tags and how they are pushed apart, and the start-up backlog the status
panel leaves out of its latency figure.

Each panel's module is ``common.js`` + ``<panel>.js`` (``widgets.assets.panel_esm``);
the helpers are top-level functions, so the test appends an ``export`` line and
imports the module (rendering needs a browser; these functions do not).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from widgets.assets import STATIC, panel_esm

REPO = Path(__file__).resolve().parents[2]

# Node is part of the set-up (scripts/bootstrap.sh needs npm for wscat), so a missing
# node is an install error to report, not a reason to skip.
NODE = shutil.which("node")


def run_js(tmp_path: Path, panel: str, names: list[str], body: str) -> Any:
    """Import ``names`` from the panel's module and print ``body``'s value as JSON."""
    module = tmp_path / f"{panel}.mjs"
    module.write_text(f"{panel_esm(panel)}\nexport {{ {', '.join(names)} }};\n", encoding="utf-8")
    script = tmp_path / "main.mjs"
    script.write_text(
        f"import {{ {', '.join(names)} }} from './{module.name}';\n"
        f"console.log(JSON.stringify((() => {{ {body} }})()));\n",
        encoding="utf-8",
    )
    assert NODE is not None, "node is not installed: run scripts/bootstrap.sh"
    done = subprocess.run(
        [NODE, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def leg(oid: str, role: str, status: str, **prices: float) -> dict[str, Any]:
    kind = {"entry": "MARKET", "take_profit": "LIMIT", "stop_loss": "STOP_LOSS"}[role]
    return {"id": oid, "type": kind, "role": role, "status": status, **prices}


def test_a_bracket_in_trade_says_so_and_lists_its_legs(tmp_path: Path) -> None:
    row = {
        "status": "NEW",
        "take_profit": 650.26,
        "stop_loss": 649.62,
        "legs": [
            leg("o-7-entry", "entry", "FILLED", fill_price=649.96),
            leg("o-7-tp", "take_profit", "NEW", price=650.26),
            leg("o-7-sl", "stop_loss", "NEW", stop_price=649.62),
        ],
    }
    out = run_js(
        tmp_path,
        "orders",
        ["orderPhase", "legText", "orderPrices"],
        f"const row = {json.dumps(row)};"
        " return [orderPhase(row), row.legs.map(legText), orderPrices(row)];",
    )
    assert out == [
        "in trade, TP + SL live",
        ["entry @ 649.96", "TP 650.26", "SL 649.62"],
        "",  # the legs show the prices, with their status
    ]


def test_bracket_phases_from_waiting_to_closed(tmp_path: Path) -> None:
    waiting = {
        "status": "NEW",
        "legs": [
            leg("e", "entry", "NEW", price=640.0),
            leg("t", "take_profit", "NEW", price=660.0),
            leg("s", "stop_loss", "NEW", stop_price=630.0),
        ],
    }
    stopped = {
        "status": "FILLED",
        "legs": [
            leg("e", "entry", "FILLED", fill_price=640.0),
            leg("t", "take_profit", "CANCELED", price=660.0),
            leg("s", "stop_loss", "FILLED", fill_price=629.9),
        ],
    }
    oco = {"status": "NEW", "legs": [leg("t", "take_profit", "NEW"), leg("s", "stop_loss", "NEW")]}
    plain = {"status": "NEW", "legs": []}
    out = run_js(
        tmp_path,
        "orders",
        ["orderPhase"],
        f"return {json.dumps([waiting, stopped, oco, plain])}.map(orderPhase);",
    )
    assert out == ["awaiting entry", "closed by SL", "TP + SL live", ""]


def test_order_prices_are_short(tmp_path: Path) -> None:
    rows = [
        {"price": 3000.0, "fill_price": 2999.1},
        {"trail_percent": 0.05, "activation_price": 3600.0},
        {"take_profit": 97053.96, "stop_price": 96956.96},
    ]
    out = run_js(
        tmp_path, "orders", ["orderPrices"], f"return {json.dumps(rows)}.map(orderPrices);"
    )
    assert out == [
        "limit 3,000.00 · @ 2,999.10",
        "trail 0.05% · act 3,600.00",
        "stop 96,956.96 · TP 97,053.96",
    ]


def test_chart_line_tags_are_short(tmp_path: Path) -> None:
    lines = [
        {"kind": "take_profit", "price": 97053.96, "label": "take profit order-4"},
        {"kind": "stop", "price": 96956.96, "label": "stop order-5"},
        {"kind": "trailing_stop", "price": 3497.44, "label": "trailing stop order-6"},
        {"kind": "entry", "price": 97005.46, "label": "entry BUY 0.01"},
        {"kind": "whatever", "price": 1.5, "label": "x"},
    ]
    out = run_js(tmp_path, "chart", ["twLineTag"], f"return {json.dumps(lines)}.map(twLineTag);")
    assert out == [
        "TP 97,053.96",
        "SL 96,956.96",
        "TRAIL 3,497.44",
        "ENTRY 97,005.46",
        "LIMIT 1.50",  # a price with no known precision: its own decimals, at least 2
    ]


def test_fill_markers_sit_on_their_bar_at_their_price_and_skip_what_is_not_drawn(
    tmp_path: Path,
) -> None:
    fills = [
        {"t": 125_000, "price": 101.5, "side": "SELL", "id": "o-2"},
        {"t": 61_000, "price": 100.0, "side": "BUY", "id": "o-1"},
        {"t": 10_000, "price": 99.0, "side": "BUY", "id": "old"},  # before the first bar
    ]
    out = run_js(
        tmp_path,
        "chart",
        ["twFillMarkers"],
        f"return twFillMarkers({json.dumps(fills)}, 60000, 180000, 60000,"
        " {up: 'green', down: 'red'});",
    )
    assert [(m["time"], m["price"], m["shape"], m["position"]) for m in out] == [
        (60, 100.0, "arrowUp", "atPriceBottom"),
        (120, 101.5, "arrowDown", "atPriceTop"),
    ]


def test_gap_times_map_to_fractional_bar_positions(tmp_path: Path) -> None:
    out = run_js(
        tmp_path,
        "chart",
        ["twLogicalOf"],
        "const t = [0, 60000, 120000, 300000];"  # a hole in the bars after 120000
        " return [twLogicalOf(t, 30000, 60000), twLogicalOf(t, 120000, 60000),"
        " twLogicalOf(t, 210000, 60000), twLogicalOf(t, 360000, 60000),"
        " twLogicalOf([], 1, 60000)];",
    )
    assert out == [0.5, 2, 2.5, 4, None]


def test_percentages_get_the_decimals_it_takes_to_show_a_move(tmp_path: Path) -> None:
    out = run_js(
        tmp_path,
        "tickers",
        ["twPctDigits", "twSigned", "twPriceDigits", "twSetPrecision"],
        """
        twSetPrecision("DOGEUSDT", 5);
        return [
            twPctDigits(2.07), twPctDigits(0.004), twPctDigits(-0.00012), twPctDigits(0),
            twSigned(0.004, twPctDigits(0.004), "%"),
            twPriceDigits(0.0012, "DOGEUSDT"), twPriceDigits(97000.5, "BTCUSDT"),
        ];
        """,
    )
    assert out == [2, 3, 4, 2, "+0.004%", 5, 2]


def test_ticket_values_snap_to_the_step_and_the_tick(tmp_path: Path) -> None:
    out = run_js(
        tmp_path,
        "ticket",
        ["twOnGrid", "twStepDecimals"],
        """
        return [
            twOnGrid("0.0123456", "0.00001000", true), twOnGrid("0.3", "0.1", true),
            twOnGrid("97000.006", "0.01", false), twOnGrid("1.5", "1.00000000", true),
            twOnGrid("-1", "0.01", true), twStepDecimals("1e-7"),
            twOnGrid("97,000.504", "0.01", false), twOnGrid("1,5", "0.1", true),
            twOnGrid("1e999", "0.01", false), twOnGrid("1e25", "0.01", false),
        ];
        """,
    )
    # a price pasted as the panels write it snaps too; a decimal comma is left alone, and
    # so is a number too large to write plainly (it showed "Infinity", "1e+25")
    assert out == ["0.01234", "0.3", "97000.01", "1", None, 7, "97000.50", None, None, None]


def test_status_gap_and_age_texts(tmp_path: Path) -> None:
    out = run_js(
        tmp_path,
        "status",
        ["twGapText", "twAge"],
        """
        const start = Date.UTC(2026, 0, 2, 12, 3, 4);
        return [
            twGapText(null),
            twGapText({start_ms: start, end_ms: start + 6000, reason: "reconnect"}),
            twGapText({start_ms: start, end_ms: null, reason: "stalled"}),
            twAge(4200), twAge(185000),
        ];
        """,
    )
    assert out == [
        "none",
        "12:03:04–12:03:10 UTC (6.0 s, reconnect)",
        "since 12:03:04 UTC (stalled)",
        "4.2 s ago",
        "3 min ago",
    ]


def test_the_portfolio_total_is_shown_as_the_sum_it_is(tmp_path: Path) -> None:
    out = run_js(
        tmp_path,
        "portfolio",
        ["twPnlSum"],
        """
        return [
            twPnlSum({realized_pnl: -3.91, unrealized_pnl: 0, fees_paid: 12.99,
                      total_pnl: -16.9, quote: "USDT"}),
            twPnlSum({realized_pnl: 5, unrealized_pnl: null, fees_paid: 1, total_pnl: 4}),
        ];
        """,
    )
    assert out == ["−3.91 realized + 0.00 unrealized − 12.99 fees = −16.90 USDT", ""]


def test_the_vendored_chart_library_is_the_registrys_file() -> None:
    """widgets/static/vendor holds lightweight-charts' standalone build as npm ships it
    (the version pinned in package.json; bootstrap installs node_modules)."""
    vendored = STATIC / "vendor" / "lightweight-charts.standalone.production.js"
    installed = REPO / "node_modules" / "lightweight-charts" / "dist" / vendored.name
    pinned = json.loads((REPO / "package.json").read_text())["devDependencies"]
    package = json.loads((installed.parent.parent / "package.json").read_text())
    assert package["version"] == pinned["lightweight-charts"]
    assert vendored.read_bytes() == installed.read_bytes()
    assert f"v{package['version']}" in vendored.read_text()[:300]


def test_status_latency_leaves_out_the_start_up_backlog(tmp_path: Path) -> None:
    # flushes sent before the last view came up waited for the page to load: reported
    # apart; the ones sent afterwards are the kernel-to-screen figure
    out = run_js(
        tmp_path,
        "status",
        ["TW_UI"],
        """
        const now = Date.now();
        TW_UI.record("tw-tickers", 5000, NaN, now - 5000);
        TW_UI.record("tw-orders", 4000, NaN, now - 4000);
        TW_UI.liveSince = now - 100;
        TW_UI.record("tw-tickers", 20, NaN, now - 20);
        TW_UI.record("tw-chart", 60, NaN, now - 60);
        const r = TW_UI.recent(10000);
        return [r.render, r.backlog, TW_UI.percentile(r.render, 99)];
        """,
    )
    assert out == [[20, 60], 2, 60]


def test_prices_use_the_symbol_precision_learned_from_market_prices(tmp_path: Path) -> None:
    out = run_js(
        tmp_path,
        "positions",
        ["twLearnPrice", "twPrice", "twDecimalsOf"],
        """
        twLearnPrice("BNBUSDT", 649.93);
        twLearnPrice("BNBUSDT", 650.1);
        twLearnPrice("SOLUSDT", 0.1 + 0.2);  // float noise is not a decimal
        twLearnPrice("PEPEUSDT", 0.00001234);
        return [
            twPrice(649.93, "BNBUSDT"),
            twPrice(649.9312345, "BNBUSDT"),  // an averaged entry price: the tick's decimals
            twPrice(0.3, "SOLUSDT"),
            twPrice(0.00001234, "PEPEUSDT"),
            twPrice(649.93),  // no symbol: its own decimals
            twPrice(1.23456789),  // no symbol: at most the magnitude rule (4 below 1000)
            twPrice(97053.9),
            twDecimalsOf(0.1 + 0.2),
        ];
        """,
    )
    assert out == [
        "649.93",
        "649.93",
        "0.30",
        "0.00001234",
        "649.93",
        "1.2346",
        "97,053.90",
        1,
    ]


def test_values_that_round_to_zero_have_no_sign(tmp_path: Path) -> None:
    out = run_js(
        tmp_path,
        "positions",
        ["twSigned", "twSignClass", "twFmt"],
        """
        return [
            twSigned(-0.001, 2, "%"), twSigned(0.004, 2, "%"), twSigned(-0.004, 2),
            twSigned(-0.006, 2, "%"), twSigned(0.006, 2), twFmt(-0.0001, 2),
            twSignClass(-0.001, 2), twSignClass(-0.006, 2), twSignClass(-0.001),
        ];
        """,
    )
    assert out == [
        "0.00%", "0.00%", "0.00",
        "-0.01%", "+0.01", "0.00",
        "tw-flat", "tw-neg", "tw-neg",
    ]  # fmt: skip
