// Chart panel (plotly.js is prepended by widgets/chart.py as `Plotly`).
// Traces: 0 price line, 1 candlesticks, 2 buy fills, 3 sell fills.  The kernel sends
// {"kind": "reset"} once per view / symbol / mode and {"kind": "extend"} with only the
// new points afterwards, merged into one Plotly.redraw per frame of work; lines (entry,
// stop, ...) are HTML rules and tags over the plot, placed after every plotly draw.
const MAX_POINTS = 3000;
// the tag each kind of line shows (colours and dashes are in chart.css, .tw-line-<kind>)
const LINE_TAG = { entry: "ENTRY", stop: "SL", take_profit: "TP", trailing_stop: "TRAIL", limit: "LIMIT" };
const LABEL_GAP_PX = 15; // a 12 px tag line with its border, plus air

// A line's tag: "TP 97,053.96"; the long label ("take profit order-4") is its hover text
function twLineTag(line, symbol = "") {
  return `${LINE_TAG[line.kind] || LINE_TAG.limit} ${twPrice(line.price, symbol)}`;
}

// Labels sit on their lines (pixel `pixels[i]` from the plot's top, `height` the plot
// area); lines closer than `gap` would print their labels over each other, so push
// them apart (in price order, kept inside the plot) and return each label's shift in
// px as plotly's `yshift` (up is positive).
function twLabelShifts(pixels, height, gap = LABEL_GAP_PX) {
  const order = pixels.map((px, i) => [px, i]).sort((a, b) => a[0] - b[0]);
  const pos = order.map(([px]) => Math.min(Math.max(px, gap / 2), height - gap / 2));
  for (let k = 1; k < pos.length; k++) pos[k] = Math.max(pos[k], pos[k - 1] + gap);
  const last = pos.length - 1;
  if (last >= 0 && pos[last] > height - gap / 2) {
    pos[last] = height - gap / 2;
    for (let k = last - 1; k >= 0; k--) pos[k] = Math.min(pos[k], pos[k + 1] - gap);
  }
  const shifts = new Array(pixels.length).fill(0);
  order.forEach(([px, i], k) => {
    shifts[i] = Math.round(px - pos[k]);
  });
  return shifts;
}

function render({ model, el }) {
  const frame = twFrame(model, el, "Chart");
  const symbolSelect = twEl("select", "tw-symbol-select");
  const modeSelect = twEl("select", "tw-mode");
  for (const m of ["line", "candles"]) modeSelect.append(Object.assign(twEl("option", "", m), { value: m }));
  frame.tools.append(symbolSelect, modeSelect);
  const plot = twEl("div", "tw-plot");
  plot.style.height = `${model.get("height")}px`;
  // order / position lines and their tags: HTML over the plot, not plotly shapes and
  // annotations (those made every redraw twice as slow, and a label move cost a relayout)
  const overlay = twEl("div", "tw-lines");
  const wrap = twEl("div", "tw-plot-wrap");
  wrap.append(plot, overlay);
  frame.body.append(wrap);

  // JupyterLab defines its theme variables on :root; `el` may not be attached yet
  const css = (name, fallback) =>
    getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
  const theme = () => ({
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: css("--jp-ui-font-color1", "#222"), family: css("--jp-ui-font-family", "sans-serif"), size: 11 },
    xaxis: { type: "date", gridcolor: css("--jp-border-color2", "#e0e0e0"), rangeslider: { visible: false } },
    yaxis: { gridcolor: css("--jp-border-color2", "#e0e0e0"), side: "right", tickformat: ",.2f" },
    margin: { l: 10, r: 60, t: 10, b: 30 },
    height: model.get("height"),
    autosize: true,
    showlegend: false,
    uirevision: "keep", // user zoom survives updates
    shapes: [],
    annotations: [],
  });
  const emptyTraces = () => {
    const up = css("--jp-success-color1", "#2e7d32");
    const down = css("--jp-error-color1", "#c62828");
    return [
      { type: "scatter", mode: "lines", x: [], y: [], name: "price", line: { width: 1.5, color: css("--jp-brand-color1", "#1976d2") } },
      // xperiod: a lone candle still gets a minute's width, centred on its minute
      { type: "candlestick", x: [], open: [], high: [], low: [], close: [], name: "1m",
        xperiod: 60000, xperiodalignment: "middle",
        increasing: { line: { color: up } }, decreasing: { line: { color: down } } },
      { type: "scatter", mode: "markers", x: [], y: [], name: "buy fills", text: [], marker: { symbol: "triangle-up", size: 11, color: up } },
      { type: "scatter", mode: "markers", x: [], y: [], name: "sell fills", text: [], marker: { symbol: "triangle-down", size: 11, color: down } },
      // the order / position line prices, invisible: plotly's autorange keeps them in view
      { type: "scatter", mode: "markers", x: [], y: [], name: "lines", hoverinfo: "skip", marker: { opacity: 0, size: 1 } },
    ];
  };
  let ready = Plotly.newPlot(plot, emptyTraces(), theme(), { displaylogo: false, responsive: true });
  // plotly calls must not overlap: chain them
  // x values are epoch ms; restyling a candlestick's x lets plotly re-guess the axis
  // type ("linear"), so every update ends by making sure it is still a date axis
  const keepDateAxis = () =>
    plot._fullLayout && plot._fullLayout.xaxis && plot._fullLayout.xaxis.type !== "date"
      ? Plotly.relayout(plot, { "xaxis.type": "date" })
      : null;
  const queue = (fn) =>
    (ready = ready
      .then(fn)
      .then(keepDateAxis)
      .catch((err) => console.error("tw-chart", err)));
  // the view is laid out after render() returns (and the notebook column can change
  // width): follow the container's size instead of plotly's 700 px default
  let lastWidth = 0;
  const resizer = new ResizeObserver(() => {
    const width = plot.clientWidth;
    if (width > 0 && width !== lastWidth) {
      lastWidth = width;
      queue(async () => {
        await Plotly.Plots.resize(plot);
        placeLines(); // the same prices are more or fewer pixels apart now
      });
    }
  });
  resizer.observe(plot);
  // JupyterLab switches themes by swapping CSS variables and the body's
  // data-jp-theme-* attributes: re-read the colours then, without redrawing data
  const retheme = () => {
    queue(async () => {
      const t = theme();
      const traces = emptyTraces();
      await Plotly.relayout(plot, {
        font: t.font,
        "xaxis.gridcolor": t.xaxis.gridcolor,
        "yaxis.gridcolor": t.yaxis.gridcolor,
      });
      await Plotly.restyle(plot, { "line.color": traces[0].line.color }, [0]);
      await Plotly.restyle(plot, { "marker.color": [traces[2].marker.color, traces[3].marker.color] }, [2, 3]);
    });
    drawLines(); // queued behind the restyle (never awaited inside the queue: no cycle)
  };
  const themeWatcher = new MutationObserver(retheme);
  themeWatcher.observe(document.body, {
    attributes: true,
    attributeFilter: ["data-jp-theme-name", "data-jp-theme-light"],
  });

  const candleArrays = (candles) => ({
    x: candles.map((c) => c[0]), open: candles.map((c) => c[1]), high: candles.map((c) => c[2]),
    low: candles.map((c) => c[3]), close: candles.map((c) => c[4]),
  });
  const fillArrays = (fills, side) => {
    const mine = fills.filter((f) => f.side === side);
    return { x: mine.map((f) => f.t), y: mine.map((f) => f.price), text: mine.map((f) => f.id) };
  };
  // Everything that arrives while plotly is busy (new points, candles, fills, moved
  // lines) is merged and drawn by ONE redraw: extendTraces and relayout would each
  // re-lay out the whole figure, and a backlog of them made the chart fall behind.
  let pending = null;
  const newPending = () => ({ t: [], y: [], candles: [], fills: [], lines: false, sent: [] });
  const schedule = () => {
    if (pending) return pending;
    const p = newPending();
    pending = p;
    queue(() => applyPending(p)); // its own batch: a reset may have moved `pending` on
    return p;
  };
  const drawLines = () => {
    schedule().lines = true;
  };
  // the overlay's elements, rebuilt only when the set of lines changes
  let lineKey = "";
  let lineEls = [];
  const buildLines = (lines) => {
    const key = lines.map((l) => `${l.kind}|${l.price}|${l.label}`).join(";");
    if (key === lineKey) return;
    lineKey = key;
    lineEls = lines.map((line) => {
      const kind = LINE_TAG[line.kind] ? line.kind : "limit";
      const rule = twEl("div", `tw-line tw-line-${kind}`);
      const symbol = model.get("symbol");
      const tag = twEl("div", `tw-line-tag tw-line-${kind}`, twLineTag(line, symbol));
      rule.dataset.kind = tag.dataset.kind = line.kind;
      tag.title = `${line.label} ${twPrice(line.price, symbol)}`;
      return { line, rule, tag };
    });
    overlay.replaceChildren(...lineEls.flatMap((e) => [e.rule, e.tag]));
  };
  // after every plotly draw (data, zoom, resize): put each line at its price and push
  // tags that would overlap apart; a few style writes, no plotly call
  const placeLines = () => {
    const full = plot._fullLayout;
    const ya = full && full.yaxis;
    if (!ya || typeof ya.l2p !== "function" || !full._size) return;
    const size = full._size;
    const pixels = lineEls.map((e) => ya.l2p(e.line.price));
    const shifts = twLabelShifts(pixels, ya._length);
    lineEls.forEach((e, i) => {
      const inside = pixels[i] >= 0 && pixels[i] <= ya._length;
      e.rule.hidden = e.tag.hidden = !inside;
      e.rule.style.cssText = `top:${size.t + pixels[i]}px;left:${size.l}px;width:${size.w}px`;
      e.tag.style.cssText = `top:${size.t + pixels[i] - shifts[i]}px;left:${size.l + 2}px`;
    });
  };
  queue(() => plot.on("plotly_afterplot", placeLines)); // plot.on exists once plotted
  // trace 4's invisible markers at the newest x: autorange spans the line prices too
  const lineMarkers = () => {
    const data = plot.data;
    const x = data[0].x.length ? data[0].x[data[0].x.length - 1] : data[1].x[data[1].x.length - 1];
    const prices = lineEls.map((e) => e.line.price);
    data[4].x = x === undefined ? [] : prices.map(() => x);
    data[4].y = x === undefined ? [] : prices;
  };
  const applyPending = async (p) => {
    if (pending === p) pending = null; // later updates start the next batch
    const started = performance.now();
    const data = plot.data;
    if (p.t.length) {
      data[0].x.push(...p.t);
      data[0].y.push(...p.y);
      const extra = data[0].x.length - MAX_POINTS;
      if (extra > 0) {
        data[0].x.splice(0, extra);
        data[0].y.splice(0, extra);
      }
    }
    if (p.candles.length) {
      // the first candle sent may be the one still forming: replace it, append the rest
      const trace = data[1];
      for (const c of p.candles) {
        const last = trace.x.length - 1;
        const i = last >= 0 && trace.x[last] === c[0] ? last : trace.x.length;
        trace.x[i] = c[0]; trace.open[i] = c[1]; trace.high[i] = c[2]; trace.low[i] = c[3]; trace.close[i] = c[4];
      }
    }
    for (const [index, side] of [[2, "BUY"], [3, "SELL"]]) {
      const mine = fillArrays(p.fills, side);
      data[index].x.push(...mine.x);
      data[index].y.push(...mine.y);
      data[index].text.push(...mine.text);
    }
    if (p.lines) buildLines(model.get("lines") || []);
    // main-thread time only: what other panels' updates wait for, not the awaits
    let work = 0;
    if (p.t.length || p.candles.length || p.fills.length || p.lines) {
      lineMarkers();
      const redrawn = Plotly.redraw(plot); // the figure is laid out synchronously
      work += performance.now() - started;
      await redrawn;
    }
    const after = performance.now();
    await keepDateAxis();
    placeLines();
    TW_UI.addWork("tw-chart", work + performance.now() - after);
    const now = Date.now();
    const newest = p.t.length ? p.t[p.t.length - 1] : NaN;
    for (const sent of p.sent) TW_UI.record("tw-chart", now - sent, now - newest, sent);
  };

  const applyMode = (mode) => Plotly.restyle(plot, { visible: [mode === "line", mode === "candles"] }, [0, 1]);

  let drawn = false;
  const onCustom = (msg) => {
    // the market prices teach the symbol's precision (the line tags use it)
    const ys = (msg.points && msg.points.y) || [];
    for (let i = Math.max(0, ys.length - 50); i < ys.length; i++) twLearnPrice(model.get("symbol"), ys[i]);
    if (msg.kind === "reset") {
      // updates merged so far belong to the old history; later ones follow the reset
      pending = null;
      queue(async () => {
        const traces = emptyTraces();
        traces[0].x = msg.points.t;
        traces[0].y = msg.points.y;
        Object.assign(traces[1], candleArrays(msg.candles));
        Object.assign(traces[2], fillArrays(msg.fills, "BUY"));
        Object.assign(traces[3], fillArrays(msg.fills, "SELL"));
        traces[0].visible = msg.mode === "line";
        traces[1].visible = msg.mode === "candles";
        // x values are epoch ms: say "date" explicitly, or plotly may guess "linear"
        const layout = { ...plot.layout, xaxis: { ...plot.layout.xaxis, type: "date" } };
        await Plotly.react(plot, traces, layout);
        modeSelect.value = msg.mode;
        if (!drawn) {
          drawn = true;
          TW_UI.viewReady(); // the chart shows its history: its start-up is over
        }
      });
      drawLines();
    } else if (msg.kind === "extend") {
      const p = schedule();
      p.t.push(...msg.points.t);
      p.y.push(...msg.points.y);
      p.candles.push(...msg.candles);
      p.fills.push(...msg.fills);
      const sentAt = msg.sent_ms || model.get("sent_ms");
      if (sentAt) p.sent.push(sentAt);
    }
  };
  model.on("msg:custom", onCustom);

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
  modeSelect.value = model.get("mode");
  drawSymbols();
  model.on("change:lines", drawLines);
  model.on("change:symbols", drawSymbols);
  model.on("change:symbol", drawSymbols);
  queue(() => applyMode(model.get("mode")));
  model.send({ action: "snapshot" });
  return () => {
    model.off("change:lines", drawLines);
    model.off("change:symbols", drawSymbols);
    model.off("change:symbol", drawSymbols);
    model.off("msg:custom", onCustom);
    resizer.disconnect();
    themeWatcher.disconnect();
    frame.cleanup();
    Plotly.purge(plot);
  };
}

export default { render };
