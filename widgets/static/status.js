// Status panel: feed state, source, age of the last message (counted here, between
// kernel flushes), feed latency, server clients, and the UI latency measured in this
// page for every panel (sent back to the kernel as the ui_latency trait).
const STATUS_ITEMS = [
  ["feed", "Feed"],
  ["source", "Source"],
  ["age", "Last message"],
  ["feed-latency", "Feed latency"],
  ["clients", "Server clients"],
  ["ui-latency", "Kernel → screen p50 / p99"],
];
const UI_LATENCY_HELP =
  "Time from a panel update leaving the kernel (its flush) to this page's DOM showing it: " +
  "Jupyter's transport (ZMQ, server, websocket) plus the panels' own drawing, over every " +
  "panel update of the last 10 s. Updates sent while the panels were still loading " +
  "(start-up backlog) are left out.";
const REPORT_EVERY_MS = 2000;
const WINDOW_MS = 10000; // latency over the last 10 s: startup (plotly loading) fades out

function render({ model, el }) {
  const frame = twFrame(model, el, "Status");
  const grid = twEl("div", "tw-status-grid");
  const values = {};
  for (const [key, label] of STATUS_ITEMS) {
    const item = twEl("div", `tw-item tw-${key}`);
    item.append(twEl("div", "tw-label", label));
    values[key] = item.appendChild(twEl("div", "tw-value tw-num", "–"));
    grid.append(item);
  }
  const latencyItem = values["ui-latency"].parentElement;
  latencyItem.title = UI_LATENCY_HELP;
  const latencyNote = latencyItem.appendChild(twEl("div", "tw-note", ""));
  frame.body.append(grid);

  const draw = () => {
    const s = model.get("status") || {};
    const feed = values.feed;
    twText(feed, s.feed || "unknown");
    twClass(feed, `tw-value tw-feed-state tw-feed-${s.feed || "unknown"}`);
    feed.title = s.reason || "";
    twText(values.source, s.source || "–");
    twText(values["feed-latency"], twMissing(s.feed_latency_ms) ? "–" : `${twFmt(s.feed_latency_ms, 1)} ms`);
    twText(values.clients, twMissing(s.clients) ? "–" : String(s.clients));
    tick();
  };
  const tick = () => {
    const s = model.get("status") || {};
    twText(values.age, s.last_message_ms ? `${twFmt((Date.now() - s.last_message_ms) / 1000, 1)} s ago` : "–");
    const { render: recent, backlog } = TW_UI.recent(WINDOW_MS);
    const p50 = TW_UI.percentile(recent, 50);
    const p99 = TW_UI.percentile(recent, 99);
    twText(values["ui-latency"], p50 === null ? "–" : `${p50} / ${p99} ms`);
    const skipped = backlog ? ` (+${backlog} at start-up)` : "";
    twText(latencyNote, `${recent.length} updates, last 10 s${skipped}`);
  };
  let reported = Date.now();
  let updatesAtReport = 0;
  const report = () => {
    const now = Date.now();
    const total = Object.values(TW_UI.updates).reduce((a, b) => a + b, 0);
    const { render, age, backlog } = TW_UI.recent(WINDOW_MS);
    model.set("ui_latency", {
      render_p50_ms: TW_UI.percentile(render, 50),
      render_p99_ms: TW_UI.percentile(render, 99),
      age_p50_ms: TW_UI.percentile(age, 50),
      age_p99_ms: TW_UI.percentile(age, 99),
      samples: render.length,
      startup_backlog: backlog,
      dom_updates_per_s: (1000 * (total - updatesAtReport)) / Math.max(1, now - reported),
    });
    model.save_changes();
    reported = now;
    updatesAtReport = total;
  };
  draw();
  const off = twOnFlush(model, "tw-status", draw);
  const timer = setInterval(tick, 500);
  const reporter = setInterval(report, REPORT_EVERY_MS);
  return () => {
    off();
    clearInterval(timer);
    clearInterval(reporter);
    frame.cleanup();
  };
}

export default { render };
