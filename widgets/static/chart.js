// Chart panel (plotly.js is prepended by widgets/chart.py as `Plotly`).
// Traces: 0 price line, 1 candlesticks, 2 buy fills, 3 sell fills.  The kernel sends
// {"kind": "reset"} once per view / symbol / mode and {"kind": "extend"} with only the
// new points afterwards; lines (entry, stop, ...) are layout shapes moved by relayout.
const MAX_POINTS = 3000;
const LINE_STYLE = {
  entry: { color: "--jp-brand-color1", fallback: "#1976d2", dash: "solid" },
  stop: { color: "--jp-error-color1", fallback: "#c62828", dash: "dash" },
  take_profit: { color: "--jp-success-color1", fallback: "#2e7d32", dash: "dash" },
  trailing_stop: { color: "--jp-warn-color1", fallback: "#ef6c00", dash: "dot" },
  limit: { color: "--jp-ui-font-color2", fallback: "#757575", dash: "dashdot" },
};

function render({ model, el }) {
  const frame = twFrame(model, el, "Chart");
  const symbolSelect = twEl("select", "tw-symbol-select");
  const modeSelect = twEl("select", "tw-mode");
  for (const m of ["line", "candles"]) modeSelect.append(Object.assign(twEl("option", "", m), { value: m }));
  frame.tools.append(symbolSelect, modeSelect);
  const plot = twEl("div", "tw-plot");
  plot.style.height = `${model.get("height")}px`;
  frame.body.append(plot);

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
      { type: "scatter", mode: "markers", x: [], y: [], name: "buy fills", marker: { symbol: "triangle-up", size: 11, color: up } },
      { type: "scatter", mode: "markers", x: [], y: [], name: "sell fills", marker: { symbol: "triangle-down", size: 11, color: down } },
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
      queue(() => Plotly.Plots.resize(plot));
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
  const drawLines = () =>
    queue(() => {
      const lines = model.get("lines") || [];
      const shapes = lines.map((line) => {
        const style = LINE_STYLE[line.kind] || LINE_STYLE.limit;
        return {
          type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: line.price, y1: line.price,
          line: { color: css(style.color, style.fallback), width: 1, dash: style.dash },
          name: line.kind,
        };
      });
      const annotations = lines.map((line) => ({
        xref: "paper", x: 0, xanchor: "left", yref: "y", y: line.price, yanchor: "bottom",
        text: `${line.label} ${twPrice(line.price)}`, showarrow: false, font: { size: 10 },
      }));
      return Plotly.relayout(plot, { shapes, annotations });
    });

  const applyMode = (mode) => Plotly.restyle(plot, { visible: [mode === "line", mode === "candles"] }, [0, 1]);

  const onCustom = (msg) => {
    if (msg.kind === "reset") {
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
      });
      drawLines();
    } else if (msg.kind === "extend") {
      queue(async () => {
        const started = performance.now();
        if (msg.points.t.length) {
          await Plotly.extendTraces(plot, { x: [msg.points.t], y: [msg.points.y] }, [0], MAX_POINTS);
        }
        if (msg.candles.length) {
          // the first candle sent may be the one still forming: replace it, append the rest
          const trace = plot.data[1];
          const arrays = { x: [...trace.x], open: [...trace.open], high: [...trace.high], low: [...trace.low], close: [...trace.close] };
          for (const c of msg.candles) {
            const last = arrays.x.length - 1;
            const i = last >= 0 && arrays.x[last] === c[0] ? last : arrays.x.length;
            arrays.x[i] = c[0]; arrays.open[i] = c[1]; arrays.high[i] = c[2]; arrays.low[i] = c[3]; arrays.close[i] = c[4];
          }
          await Plotly.restyle(plot, { x: [arrays.x], open: [arrays.open], high: [arrays.high], low: [arrays.low], close: [arrays.close] }, [1]);
        }
        if (msg.fills.length) {
          const buys = fillArrays(msg.fills, "BUY");
          const sells = fillArrays(msg.fills, "SELL");
          await Plotly.extendTraces(plot, { x: [buys.x, sells.x], y: [buys.y, sells.y] }, [2, 3]);
        }
        TW_UI.work.push(performance.now() - started);
        const now = Date.now();
        const sentAt = msg.sent_ms || model.get("sent_ms");
        TW_UI.record("tw-chart", sentAt ? now - sentAt : NaN, msg.points.t.length ? now - msg.points.t[msg.points.t.length - 1] : NaN);
      });
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
