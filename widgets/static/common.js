// Helpers shared by every panel; widgets/assets.py prepends this file to each panel's
// module (no build step, so no imports between files).

// One registry per page: every panel records its render latencies here and the status
// panel (and benchmarks/ui.py) read them.
const TW_UI = (globalThis.__twUi ??= {
  render: [], // ms from the kernel's flush (sent_ms) to the DOM being updated
  age: [], // ms from the newest engine timestamp in the flush to the DOM update
  at: [], // Date.now() of each render sample, to look at a recent window only
  sent: [], // the flush's sent_ms of each sample (start-up backlog is told apart by it)
  work: [], // ms of main-thread time spent in the panels' own render code
  workBy: {}, // the same per panel class (benchmarks/ui.py shows where it goes)
  updates: {}, // renders per panel class since page load
  // Date.now() when the newest panel view finished its first draw.  Flushes the kernel
  // sent before that waited in the page while the widget modules loaded (plotly.js is
  // 4.8 MB) and the views were built: seconds of start-up backlog, not the steady
  // kernel-to-screen latency the status panel reports.
  liveSince: 0,
  max: 20000,
  record(panel, renderMs, ageMs, sentMs = NaN) {
    const now = Date.now();
    if (Number.isFinite(renderMs)) {
      this.render.push(renderMs);
      this.at.push(now);
      this.age.push(Number.isFinite(ageMs) ? ageMs : NaN);
      this.sent.push(Number.isFinite(sentMs) ? sentMs : now - renderMs);
    }
    if (this.work.length > this.max) this.work.splice(0, this.work.length - this.max);
    if (this.render.length > this.max) {
      const drop = this.render.length - this.max;
      this.render.splice(0, drop);
      this.age.splice(0, drop);
      this.at.splice(0, drop);
      this.sent.splice(0, drop);
    }
    this.updates[panel] = (this.updates[panel] || 0) + 1;
  },
  addWork(panel, ms) {
    this.work.push(ms);
    const mine = (this.workBy[panel] ??= []);
    mine.push(ms);
    if (mine.length > this.max) mine.splice(0, mine.length - this.max);
  },
  viewReady() {
    this.liveSince = Date.now();
  },
  // samples of the last `ms` milliseconds whose flush was sent once every panel was
  // up (`live`); `backlog` counts the start-up ones left out
  recent(ms) {
    const since = Date.now() - ms;
    let i = this.at.length;
    while (i > 0 && this.at[i - 1] >= since) i--;
    const render = [];
    const age = [];
    let backlog = 0;
    for (let j = i; j < this.at.length; j++) {
      if (this.sent[j] < this.liveSince) {
        backlog++;
        continue;
      }
      render.push(this.render[j]);
      if (Number.isFinite(this.age[j])) age.push(this.age[j]);
    }
    return { render, age, backlog };
  },
  percentile(values, p) {
    if (!values.length) return null;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  },
});
// a page with panels of an older version of this file: give it what is new
TW_UI.sent ??= TW_UI.render.map(() => 0);
TW_UI.workBy ??= {};
TW_UI.liveSince ??= 0;
TW_UI.addWork ??= function (panel, ms) {
  this.work.push(ms);
};
TW_UI.viewReady ??= function () {
  this.liveSince = Date.now();
};

function twEl(tag, className = "", text = null) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== null) node.textContent = text;
  return node;
}

// write only what changed: an identical write still costs a mutation and a relayout
function twText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function twClass(node, className) {
  if (node.className !== className) node.className = className;
}

// rows: Map key -> {tr, ...}; drop the rows this draw did not see, and show the
// "empty" line when none are left (tickers, positions and orders tables)
function twPruneRows(rows, seen, empty) {
  for (const [key, entry] of rows) {
    if (!seen.has(key)) {
      entry.tr.remove();
      rows.delete(key);
    }
  }
  empty.hidden = rows.size > 0;
}

function twMissing(value) {
  return value === null || value === undefined || Number.isNaN(value);
}

function twFmt(value, digits = 2) {
  if (twMissing(value)) return "–";
  const text = Number(value).toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
  // -0.004 rounds to "-0.00": a value that shows as zero has no sign
  return /^-[0.,]+$/.test(text) ? text.slice(1) : text;
}

// does the value show as zero with that many decimals ("0.00", never "-0.00")
function twRoundsToZero(value, digits = 2) {
  return twMissing(value) || Math.abs(Number(value)) < 0.5 * 10 ** -digits;
}

// the fewest decimals (0..8) that write `value` exactly (649.93 -> 2, float noise ignored)
function twDecimalsOf(value) {
  const v = Number(value);
  if (!Number.isFinite(v)) return 0;
  const tolerance = 1e-9 * Math.max(1, Math.abs(v));
  for (let d = 0; d < 8; d++) if (Math.abs(Number(v.toFixed(d)) - v) <= tolerance) return d;
  return 8;
}

// Per-symbol price precision, learned from market prices seen in this page (tickers,
// ticket, positions' current price): a symbol with a 0.01 tick shows 2 decimals
// everywhere (tickers, positions, orders, chart tags), not 4 from the magnitude rule.
TW_UI.decimals ??= {};
function twLearnPrice(symbol, value) {
  if (!symbol || twMissing(value)) return;
  const seen = TW_UI.decimals[symbol];
  const d = twDecimalsOf(value);
  if (seen === undefined || d > seen) TW_UI.decimals[symbol] = d;
}

// The engine's word on a symbol's precision (symbol_info.price_precision) beats what
// the prices seen so far suggest.
TW_UI.precision ??= {};
function twSetPrecision(symbol, digits) {
  if (symbol && Number.isInteger(digits)) TW_UI.precision[symbol] = digits;
}

// decimals for a price-like value of `symbol` (a price, a change, a spread)
function twPriceDigits(value, symbol = "") {
  const told = symbol ? TW_UI.precision[symbol] : undefined;
  if (told !== undefined) return told;
  const known = symbol ? TW_UI.decimals[symbol] : undefined;
  if (known !== undefined) return Math.min(8, Math.max(2, known));
  if (twMissing(value)) return 2;
  const abs = Math.abs(value);
  const magnitude = abs >= 1000 ? 2 : abs >= 1 ? 4 : 6;
  return Math.min(magnitude, Math.max(2, twDecimalsOf(value)));
}

// a percentage: 2 decimals, more (up to 6) when 2 would show a move as 0.00
function twPctDigits(value) {
  if (twMissing(value) || value === 0) return 2;
  let digits = 2;
  while (digits < 6 && twRoundsToZero(value, digits)) digits++;
  return digits;
}

// Prices: with the symbol's learned precision (2 to 8 decimals); for a symbol not
// seen yet, the value's own decimals, at least 2 and at most the magnitude rule
// (prices span 1e-6 for altcoins to 1e5 for BTC)
function twPrice(value, symbol = "") {
  if (twMissing(value)) return "–";
  return twFmt(value, twPriceDigits(value, symbol));
}

function twSigned(value, digits = 2, suffix = "") {
  if (twMissing(value)) return "–";
  return (value > 0 && !twRoundsToZero(value, digits) ? "+" : "") + twFmt(value, digits) + suffix;
}

// colour by sign; with `digits`, a value that shows as zero is flat
function twSignClass(value, digits = null) {
  if (twMissing(value) || value === 0) return "tw-flat";
  if (digits !== null && twRoundsToZero(value, digits)) return "tw-flat";
  return value > 0 ? "tw-pos" : "tw-neg";
}

// quantities: up to 8 decimals, trailing zeros dropped (0.05, 1, 0.00012345)
function twQty(value) {
  if (twMissing(value)) return "–";
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: 8 });
}

function twVolume(value) {
  if (twMissing(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1e9) return twFmt(value / 1e9, 2) + "B";
  if (abs >= 1e6) return twFmt(value / 1e6, 2) + "M";
  if (abs >= 1e3) return twFmt(value / 1e3, 2) + "K";
  return twFmt(value, 2);
}

// Why this panel's kernel can no longer answer ("kernel dead", "kernel restarting"),
// or "" while it can (or when the page does not say).  A dead kernel sends no last
// message: the panels ask JupyterLab's kernel connection instead.
const twKernelsSeen = (TW_UI.kernelsSeen ??= new WeakSet());
function twKernelGone(model) {
  const manager = model.widget_manager;
  if (!manager) return "";
  if (manager.isDisposed) return "kernel shut down";
  const kernel = manager.kernel;
  // a shut-down kernel leaves the manager with none: it had one when the view came up
  if (!kernel) return twKernelsSeen.has(manager) ? "kernel shut down" : "";
  twKernelsSeen.add(manager);
  if (kernel.isDisposed) return "kernel shut down";
  if (kernel.connectionStatus === "disconnected") return "kernel disconnected";
  const status = kernel.status;
  if (status === "dead" || status === "terminating" || status === "restarting" || status === "autorestarting") {
    return `kernel ${status}`;
  }
  return "";
}

// Root element, title bar, error bar and notice line, identical in every panel.
function twFrame(model, el, title) {
  const root = twEl("div", `tw-panel ${model.get("root_class")}`);
  const header = twEl("div", "tw-header");
  header.append(twEl("span", "tw-title", title));
  const tools = twEl("span", "tw-tools");
  header.append(tools);
  const error = twEl("div", "tw-error");
  error.setAttribute("role", "alert");
  const errorText = twEl("span", "tw-error-text");
  const dismiss = twEl("button", "tw-dismiss", "×");
  dismiss.title = "Dismiss";
  dismiss.addEventListener("click", () => model.send({ action: "dismiss_error" }));
  error.append(errorText, dismiss);
  const body = twEl("div", "tw-body");
  const notice = twEl("div", "tw-notice");
  root.append(header, error, body, notice);
  el.append(root);
  const showError = () => {
    const text = model.get("error");
    errorText.textContent = text;
    error.hidden = !text;
  };
  const showNotice = () => {
    notice.textContent = model.get("notice");
  };
  showError();
  showNotice();
  model.on("change:error", showError);
  model.on("change:notice", showNotice);
  const cleanup = () => {
    model.off("change:error", showError);
    model.off("change:notice", showNotice);
  };
  return { root, header, tools, body, cleanup };
}

// Call fn once per kernel flush (sent_ms changes in every flush, after all the other
// traits of that flush are set) and record how long the state took to reach the DOM.
function twOnFlush(model, panel, fn) {
  const handler = () => {
    const started = performance.now();
    fn();
    TW_UI.addWork(panel, performance.now() - started);
    const now = Date.now();
    const sent = model.get("sent_ms");
    const event = model.get("event_ms");
    TW_UI.record(panel, sent ? now - sent : NaN, event ? now - event : NaN, sent || NaN);
  };
  model.on("change:sent_ms", handler);
  // this view has drawn its first state: later flushes measure the steady path
  TW_UI.viewReady();
  return () => model.off("change:sent_ms", handler);
}

// Restart the flash animation of many cells without forcing a layout: each flash
// flips the cell's data-flash between "0" and "1", and the CSS gives the two values
// differently named (identical) keyframes; a new animation-name restarts the
// animation at the next style pass.  (Removing and re-adding the class needed a forced
// reflow, a synchronous layout of the whole JupyterLab page on every ticker update.)
function twFlash(flashes) {
  for (const [node, className] of flashes) {
    const other = className === "tw-flash-up" ? "tw-flash-down" : "tw-flash-up";
    if (node.classList.contains(other)) node.classList.remove(other);
    if (!node.classList.contains(className)) node.classList.add(className);
    node.dataset.flash = node.dataset.flash === "1" ? "0" : "1";
  }
}
