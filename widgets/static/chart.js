// Chart panel on TradingView's Lightweight Charts (`LWC`, prepended by widgets/chart.py).
// Candles (or a close line) in the top pane, volume in a pane of its own, a crosshair
// with price and time, order/position lines as price lines with their axis labels,
// fills as markers at their price, and the feed's gaps as bands over the plot.
// The kernel sends {"kind": "reset"} once per view / symbol / timeframe / mode and
// then {"kind": "bars"} with only the bars to update or append (series.update: one
// bar, no redraw of the rest), and {"kind": "fills"} when a fill arrives.
const LINE_TAG = { entry: "ENTRY", stop: "SL", take_profit: "TP", trailing_stop: "TRAIL", limit: "LIMIT" };
const LINE_VAR = {
  entry: ["--jp-brand-color1", "#1976d2"],
  stop: ["--jp-error-color1", "#c62828"],
  take_profit: ["--jp-success-color1", "#2e7d32"],
  trailing_stop: ["--jp-warn-color1", "#ef6c00"],
  limit: ["--jp-ui-font-color2", "#757575"],
};
const INTERVAL_MS = { "1m": 60000, "5m": 300000, "15m": 900000, "1h": 3600000, "4h": 14400000, "1d": 86400000 };
const VISIBLE_BARS = 150; // what a reset shows; the rest of the history is a scroll away
const FREE_RIGHT_PX = 64; // right of the newest candle: the order lines' tags go there

// A line's tag: "TP 97,053.96"; the long label ("take profit order-4") is its hover text
function twLineTag(line, symbol = "") {
  return `${LINE_TAG[line.kind] || LINE_TAG.limit} ${twPrice(line.price, symbol)}`;
}

// [open_ms, o, h, l, c, v] -> the library's bar (time in seconds, UTC)
function twBar(c) {
  return { time: c[0] / 1000, open: c[1], high: c[2], low: c[3], close: c[4] };
}

// Fills as markers on the bar they fall in, at their own price; markers outside the
// bars drawn are left out (the library needs a bar for a marker), sorted by time.
function twFillMarkers(fills, firstMs, lastMs, intervalMs, colors) {
  const out = [];
  for (const f of fills || []) {
    const start = f.t - (f.t % intervalMs);
    if (!(start >= firstMs && start <= lastMs)) continue;
    const buy = f.side === "BUY";
    out.push({
      time: start / 1000,
      position: buy ? "atPriceBottom" : "atPriceTop",
      price: f.price,
      shape: buy ? "arrowUp" : "arrowDown",
      color: buy ? colors.up : colors.down,
      id: `${f.id}@${f.t}`,
      text: buy ? "B" : "S",
    });
  }
  return out.sort((a, b) => a.time - b.time);
}

// `color` (any CSS colour the canvas knows) with opacity `a`, as rgba(): the chart
// library parses colours itself and knows hex and rgb(a), not color-mix()
let twCanvas = null;
function twRgba(color, a) {
  twCanvas ??= document.createElement("canvas").getContext("2d");
  twCanvas.fillStyle = "#000000";
  twCanvas.fillStyle = color;
  const v = twCanvas.fillStyle;
  if (v.startsWith("#") && v.length === 7) {
    const n = parseInt(v.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
  }
  const m = v.match(/rgba?\(([^)]+)\)/);
  if (!m) return v;
  const [r, g, b] = m[1].split(",").map((x) => x.trim());
  return `rgba(${r}, ${g}, ${b}, ${a})`;
}

// Where time `ms` falls among sorted bar open times (ms), as a fractional bar index
// (what the time scale's logicalToCoordinate takes): a gap may start mid-bar.
function twLogicalOf(times, ms, intervalMs) {
  if (!times.length) return null;
  let lo = 0;
  let hi = times.length - 1;
  if (ms <= times[0]) return (ms - times[0]) / intervalMs;
  if (ms >= times[hi]) return hi + (ms - times[hi]) / intervalMs;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (times[mid] <= ms) lo = mid;
    else hi = mid;
  }
  return lo + Math.min(1, (ms - times[lo]) / Math.max(1, times[hi] - times[lo]));
}

function render({ model, el }) {
  const frame = twFrame(model, el, "Chart");
  const symbolSelect = twEl("select", "tw-symbol-select");
  const frames = twEl("div", "tw-timeframes");
  const frameButtons = {};
  for (const tf of model.get("timeframes") || Object.keys(INTERVAL_MS)) {
    const b = twEl("button", "tw-timeframe", tf);
    b.dataset.timeframe = tf;
    b.addEventListener("click", () => {
      model.set("timeframe", tf);
      model.save_changes();
    });
    frameButtons[tf] = b;
    frames.append(b);
  }
  const modeSelect = twEl("select", "tw-mode");
  for (const m of ["candles", "line"]) modeSelect.append(Object.assign(twEl("option", "", m), { value: m }));
  frame.tools.append(symbolSelect, frames, modeSelect);
  const wrap = twEl("div", "tw-plot-wrap");
  const plot = twEl("div", "tw-plot");
  plot.style.height = `${model.get("height")}px`;
  const bands = twEl("div", "tw-gaps");
  const legend = twEl("div", "tw-legend");
  // one span per field: a narrow chart wraps the legend between fields, never inside one
  const legendFields = ["head", "open", "high", "low", "close", "change", "volume"].map(() =>
    twEl("span", "tw-legend-field"),
  );
  const note = twEl("div", "tw-chart-note");
  wrap.append(plot, bands, legend, note);
  frame.body.append(wrap);
  const root = frame.root;

  // JupyterLab defines its theme variables on :root; re-read them on a theme switch
  const css = (name, fallback) =>
    getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
  const colors = () => ({
    text: css("--jp-ui-font-color1", "#222"),
    grid: css("--jp-border-color3", "#eee"),
    border: css("--jp-border-color2", "#ddd"),
    up: css("--jp-success-color1", "#2e7d32"),
    down: css("--jp-error-color1", "#c62828"),
    line: css("--jp-brand-color1", "#1976d2"),
    font: css("--jp-ui-font-family", "sans-serif"),
  });
  const alpha = (color, a) => twRgba(color, a);
  // local time on the axis and the crosshair (the bars' times are UTC seconds)
  const clock = (seconds, withDate) => {
    const d = new Date(seconds * 1000);
    const time = d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false });
    if (!withDate) return time;
    return `${d.toLocaleDateString("en-CA")} ${time}`;
  };
  const chartOptions = () => {
    const c = colors();
    return {
      autoSize: true,
      layout: {
        background: { type: LWC.ColorType.Solid, color: "transparent" },
        textColor: c.text,
        fontFamily: c.font,
        fontSize: 11,
        attributionLogo: true, // the license's link to TradingView
        panes: { separatorColor: c.border },
      },
      grid: { vertLines: { color: c.grid }, horzLines: { color: c.grid } },
      crosshair: { mode: LWC.CrosshairMode.Normal },
      // a label cut in half at the top edge reads as a different price: show whole ones only
      rightPriceScale: { borderColor: c.border, entireTextOnly: true },
      timeScale: {
        borderColor: c.border,
        timeVisible: true,
        secondsVisible: false,
        // room right of the last candle for the order lines' tags ("ENTRY", "TP"):
        // drawn over the newest candles, they hid the ones a trader looks at first
        rightOffsetPixels: FREE_RIGHT_PX,
        tickMarkFormatter: (time, tickType) => {
          const d = new Date(time * 1000);
          if (tickType === 0) return String(d.getFullYear());
          if (tickType === 1) return d.toLocaleDateString("en-GB", { month: "short" });
          if (tickType === 2) return d.toLocaleDateString("en-GB", { day: "numeric", month: "short" });
          return clock(time, false);
        },
      },
      localization: { timeFormatter: (time) => clock(time, true) },
    };
  };
  const chart = LWC.createChart(plot, chartOptions());
  const seriesColors = () => {
    const c = colors();
    return {
      candles: { upColor: c.up, downColor: c.down, wickUpColor: c.up, wickDownColor: c.down, borderVisible: false },
      line: { color: c.line },
    };
  };
  const candleSeries = chart.addSeries(LWC.CandlestickSeries, { ...seriesColors().candles, title: "" }, 0);
  const lineSeries = chart.addSeries(LWC.LineSeries, { ...seriesColors().line, lineWidth: 2, visible: false }, 0);
  const volumeSeries = chart.addSeries(
    LWC.HistogramSeries,
    { priceFormat: { type: "volume" }, priceLineVisible: false, lastValueVisible: false },
    1,
  );
  const panes = chart.panes();
  if (panes.length > 1) {
    panes[0].setStretchFactor(3);
    panes[1].setStretchFactor(1);
  }
  const markers = LWC.createSeriesMarkers(candleSeries, []);

  // what the chart shows now (for gaps, markers, the legend and the browser tests)
  let times = []; // bar open times, ms, ascending
  let lastBar = null;
  let intervalMs = 60000;
  let fills = [];
  let resets = 0;
  let ticksOnly = false;

  const volumeBar = (c) => {
    const col = colors();
    return { time: c[0] / 1000, value: c[5], color: alpha(c[4] >= c[1] ? col.up : col.down, 0.5) };
  };
  const setPrecision = () => {
    const p = model.get("precision") || {};
    const symbol = model.get("symbol");
    let digits = Number.isInteger(p.price_precision) ? p.price_precision : undefined;
    if (digits === undefined && lastBar) digits = twPriceDigits(lastBar[4], symbol);
    if (digits === undefined) return;
    if (Number.isInteger(p.price_precision)) twSetPrecision(symbol, p.price_precision);
    const minMove = p.tick_size > 0 ? p.tick_size : 10 ** -digits;
    // the panels' own number format on the axis: 97,010.00, not 97010.00
    const format = { type: "custom", minMove, formatter: (price) => twFmt(price, digits) };
    candleSeries.applyOptions({ priceFormat: format });
    lineSeries.applyOptions({ priceFormat: format });
  };

  const showMode = () => {
    const mode = model.get("mode");
    candleSeries.applyOptions({ visible: mode === "candles" });
    lineSeries.applyOptions({ visible: mode === "line" });
    modeSelect.value = mode;
  };

  const drawLegend = (bar) => {
    if (!bar) {
      legend.replaceChildren();
      return;
    }
    if (legend.childElementCount !== legendFields.length) legend.replaceChildren(...legendFields);
    const s = model.get("symbol");
    const change = bar[4] - bar[1];
    const pct = bar[1] ? (100 * change) / bar[1] : NaN;
    const texts = [
      `${s} ${model.get("timeframe")} ${clock(bar[0] / 1000, true)}`,
      `O ${twPrice(bar[1], s)}`,
      `H ${twPrice(bar[2], s)}`,
      `L ${twPrice(bar[3], s)}`,
      `C ${twPrice(bar[4], s)}`,
      twSigned(pct, twPctDigits(pct), "%"),
      `V ${twVolume(bar[5])}`,
    ];
    // the trailing space keeps the fields apart in the legend's text (copied, read aloud)
    texts.forEach((text, i) => twText(legendFields[i], `${text} `));
  };
  // the crosshair's bar in the legend; back to the last bar when the mouse leaves
  const byTime = new Map();
  chart.subscribeCrosshairMove((param) => {
    const bar = param && param.time !== undefined ? byTime.get(param.time * 1000) : null;
    drawLegend(bar || lastBar);
  });

  const drawMarkers = () => {
    if (!times.length) {
      markers.setMarkers([]);
      return;
    }
    markers.setMarkers(twFillMarkers(fills, times[0], times[times.length - 1], intervalMs, colors()));
  };

  // order / position lines: price lines keyed by kind and label, moved in place
  const priceLines = new Map();
  const drawLines = () => {
    const lines = model.get("lines") || [];
    const symbol = model.get("symbol");
    const seen = new Set();
    for (const line of lines) {
      const key = `${line.kind}|${line.label}`;
      seen.add(key);
      const [name, fallback] = LINE_VAR[line.kind] || LINE_VAR.limit;
      const options = {
        price: line.price,
        color: css(name, fallback),
        lineWidth: line.kind === "entry" ? 2 : 1,
        lineStyle: line.kind === "entry" ? LWC.LineStyle.Solid : line.kind === "trailing_stop" ? LWC.LineStyle.Dotted : LWC.LineStyle.Dashed,
        axisLabelVisible: true,
        title: LINE_TAG[line.kind] || LINE_TAG.limit,
      };
      const known = priceLines.get(key);
      if (known) {
        if (known.price !== line.price) known.line.applyOptions({ price: line.price });
        known.price = line.price;
      } else {
        priceLines.set(key, { line: candleSeries.createPriceLine(options), price: line.price });
      }
    }
    for (const [key, known] of priceLines) {
      if (!seen.has(key)) {
        candleSeries.removePriceLine(known.line);
        priceLines.delete(key);
      }
    }
    root.dataset.lines = String(priceLines.size);
    root.dataset.lineTags = lines.map((l) => twLineTag(l, symbol)).join(";");
  };

  // gaps: bands from the gap's start to its end (or now), placed after every change
  // of the visible range or of the data
  let bandEls = [];
  const placeBands = () => {
    const gaps = model.get("gaps") || [];
    if (bandEls.length !== gaps.length) {
      bandEls = gaps.map((g) => {
        // a gap of one symbol's order book (resynchronised) lost no trades: a lighter band
        const b = twEl("div", g.symbol ? "tw-gap-band tw-gap-book" : "tw-gap-band");
        b.title = g.symbol ? `Order book of ${g.symbol} resynchronised (${g.reason})` : `No data: feed ${g.reason || "gap"}`;
        return b;
      });
      bands.replaceChildren(...bandEls);
    }
    const scale = chart.timeScale();
    const width = scale.width();
    gaps.forEach((gap, i) => {
      const band = bandEls[i];
      const end = twMissing(gap.end_ms) ? Date.now() : gap.end_ms;
      const a = twLogicalOf(times, gap.start_ms, intervalMs);
      const b = twLogicalOf(times, end, intervalMs);
      const x1 = a === null ? null : scale.logicalToCoordinate(a);
      const x2 = b === null ? null : scale.logicalToCoordinate(b);
      const visible = x1 !== null && x2 !== null && x2 >= 0 && x1 <= width;
      band.hidden = !visible;
      if (visible) {
        const left = Math.max(0, x1);
        band.style.left = `${left}px`;
        band.style.width = `${Math.max(2, Math.min(width, x2) - left)}px`;
      }
    });
    root.dataset.gaps = String(gaps.length);
  };
  chart.timeScale().subscribeVisibleLogicalRangeChange(placeBands);
  chart.timeScale().subscribeSizeChange(placeBands);
  // where the newest candle sits: the order lines' tags are drawn right of it
  const noteFreeRight = () => {
    const scale = chart.timeScale();
    const x = times.length ? scale.logicalToCoordinate(times.length - 1) : null;
    root.dataset.freeRight = x === null ? "" : String(Math.round(scale.width() - x));
  };
  chart.timeScale().subscribeVisibleLogicalRangeChange(noteFreeRight);

  const drawNote = (source) => {
    const text =
      source === "ticks" ? "Candles built from last prices: this engine serves no klines (high/low may miss trades)"
      : source === "" && model.get("symbol") ? "Loading history…" : "";
    twText(note, text);
    note.hidden = !text;
  };

  const reset = (msg) => {
    const started = performance.now();
    intervalMs = INTERVAL_MS[msg.interval] || 60000;
    const candles = msg.candles || [];
    times = candles.map((c) => c[0]);
    byTime.clear();
    for (const c of candles) byTime.set(c[0], c);
    lastBar = candles.length ? candles[candles.length - 1] : null;
    for (const c of candles.slice(-50)) twLearnPrice(msg.symbol, c[4]);
    candleSeries.setData(candles.map(twBar));
    lineSeries.setData(candles.map((c) => ({ time: c[0] / 1000, value: c[4] })));
    // candles built from last prices have no volume: an empty pane, not bars of zero
    volumeSeries.setData(msg.source === "ticks" ? [] : candles.map(volumeBar));
    ticksOnly = msg.source === "ticks";
    fills = msg.fills || [];
    setPrecision();
    drawMarkers();
    showMode();
    // the newest bars at a readable width; a short history sits at the right edge
    const n = candles.length;
    const shown = Math.min(VISIBLE_BARS, Math.max(60, n));
    if (n > 0) {
      // ... and the room for the order lines' tags right of the newest one
      const scale = chart.timeScale();
      const spacing = Math.max(1, (scale.width() - FREE_RIGHT_PX) / shown);
      scale.setVisibleLogicalRange({ from: n - shown, to: n - 1 + FREE_RIGHT_PX / spacing });
    }
    drawLegend(lastBar);
    drawNote(msg.source);
    resets += 1;
    root.dataset.candles = String(n);
    root.dataset.timeframe = msg.interval;
    root.dataset.source = msg.source || "";
    root.dataset.resets = String(resets);
    for (const [tf, b] of Object.entries(frameButtons)) b.classList.toggle("tw-active", tf === msg.interval);
    drawLines();
    placeBands();
    TW_UI.addWork("tw-chart", performance.now() - started);
    if (n > 0) TW_UI.viewReady(); // the chart shows its history: its start-up is over
  };

  const update = (msg) => {
    const started = performance.now();
    let appended = false;
    for (const c of msg.bars || []) {
      const last = times.length ? times[times.length - 1] : -Infinity;
      if (c[0] < last) continue; // an older bar: the history has it (a reset brings changes)
      candleSeries.update(twBar(c));
      lineSeries.update({ time: c[0] / 1000, value: c[4] });
      if (!ticksOnly) volumeSeries.update(volumeBar(c));
      if (c[0] > last) {
        times.push(c[0]);
        appended = true;
      }
      byTime.set(c[0], c);
      lastBar = c;
    }
    if (appended) {
      root.dataset.candles = String(times.length);
      drawMarkers();
      placeBands();
    }
    drawLegend(lastBar);
    const now = Date.now();
    TW_UI.addWork("tw-chart", performance.now() - started);
    if (msg.sent_ms) TW_UI.record("tw-chart", now - msg.sent_ms, NaN, msg.sent_ms);
  };

  const onCustom = (msg) => {
    if (msg.kind === "reset") reset(msg);
    else if (msg.kind === "bars") update(msg);
    else if (msg.kind === "fills") {
      fills = msg.fills || [];
      drawMarkers();
    }
  };
  model.on("msg:custom", onCustom);

  const retheme = () => {
    chart.applyOptions(chartOptions());
    const sc = seriesColors();
    candleSeries.applyOptions(sc.candles);
    lineSeries.applyOptions(sc.line);
    if (!ticksOnly) volumeSeries.setData(times.map((t) => volumeBar(byTime.get(t))));
    for (const known of priceLines.values()) candleSeries.removePriceLine(known.line);
    priceLines.clear();
    drawLines();
    drawMarkers();
  };
  const themeWatcher = new MutationObserver(retheme);
  themeWatcher.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-name", "data-jp-theme-light"] });

  const drawSymbols = () => {
    const symbols = model.get("symbols") || [];
    if (symbolSelect.options.length !== symbols.length) {
      symbolSelect.replaceChildren(...symbols.map((s) => Object.assign(twEl("option", "", s), { value: s })));
    }
    symbolSelect.value = model.get("symbol");
  };
  symbolSelect.addEventListener("change", () => {
    model.set("symbol", symbolSelect.value);
    model.save_changes();
  });
  modeSelect.addEventListener("change", () => {
    model.set("mode", modeSelect.value);
    model.save_changes();
  });
  const onSource = () => drawNote(model.get("source"));
  drawSymbols();
  drawNote(model.get("source"));
  model.on("change:lines", drawLines);
  model.on("change:gaps", placeBands);
  model.on("change:symbols", drawSymbols);
  model.on("change:symbol", drawSymbols);
  model.on("change:precision", setPrecision);
  model.on("change:source", onSource);
  model.send({ action: "snapshot" });
  return () => {
    model.off("change:lines", drawLines);
    model.off("change:gaps", placeBands);
    model.off("change:symbols", drawSymbols);
    model.off("change:symbol", drawSymbols);
    model.off("change:precision", setPrecision);
    model.off("change:source", onSource);
    model.off("msg:custom", onCustom);
    themeWatcher.disconnect();
    frame.cleanup();
    chart.remove();
  };
}

export default { render };
