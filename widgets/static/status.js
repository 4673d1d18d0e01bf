// Status panel: one strip a trader reads at a glance (feed state, age of the last
// price, the last gap, a degraded journal) and a folded "details" with the developer's
// figures (feed latency, kernel-to-screen latency measured in this page, server
// clients, last message).  The ages are counted here between kernel flushes; a dead
// kernel is noticed here too (no flush would ever say so).
const UI_LATENCY_HELP =
  "Time from a panel update leaving the kernel (its flush) to this page's DOM showing it: " +
  "Jupyter's transport (ZMQ, server, websocket) plus the panels' own drawing, over every " +
  "panel update of the last 10 s. Updates sent while the panels were still loading " +
  "(start-up backlog) are left out.";
const FEED_HELP = {
  connected: "Receiving market data.",
  stalled: "Connected, but no market data for too long: prices may be old.",
  reconnecting: "The market data connection dropped; reconnecting.",
  down: "No market data connection.",
  stopped: "The workspace is stopped: nothing updates any more; orders cannot be placed.",
  disconnected: "The connection to the server dropped: what you see may be old.",
};
const REPORT_EVERY_MS = 2000;
const WINDOW_MS = 10000; // latency over the last 10 s: start-up fades out

// "4.2 s ago", "3 min ago", "2 h ago"
function twAge(ms) {
  if (!Number.isFinite(ms)) return "–";
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${twFmt(s, 1)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${twFmt(s / 3600, 1)} h ago`;
}

// "12:03:04–12:03:10 UTC (6 s, reconnect)"; an open gap: "since 12:03:04 UTC (reconnect)"
function twGapText(gap) {
  if (!gap) return "none";
  const clock = (ms) => new Date(ms).toISOString().slice(11, 19);
  const why = gap.reason ? `, ${gap.reason}` : "";
  if (twMissing(gap.end_ms)) return `since ${clock(gap.start_ms)} UTC${gap.reason ? ` (${gap.reason})` : ""}`;
  const seconds = Math.max(0, (gap.end_ms - gap.start_ms) / 1000);
  const span = seconds < 120 ? `${twFmt(seconds, seconds < 10 ? 1 : 0)} s` : `${twFmt(seconds / 60, 1)} min`;
  return `${clock(gap.start_ms)}–${clock(gap.end_ms)} UTC (${span}${why})`;
}

function render({ model, el }) {
  const frame = twFrame(model, el, "Status");
  const strip = twEl("div", "tw-status-grid");
  const item = (key, label, parent = strip) => {
    const box = twEl("div", `tw-item tw-${key}`);
    if (label) box.append(twEl("span", "tw-label", label));
    const value = box.appendChild(twEl("span", "tw-value tw-num", "–"));
    parent.append(box);
    return value;
  };
  const feed = item("feed", "Feed");
  const source = item("source", "");
  const priceAge = item("price-age", "Last price");
  const gap = item("gap", "Last gap");
  const journal = item("journal", "Journal");
  const journalItem = journal.parentElement;
  const details = twEl("details", "tw-details");
  const summary = twEl("summary", "", "Details");
  details.append(summary);
  const more = twEl("div", "tw-status-grid tw-dev");
  details.append(more);
  const latency = item("feed-latency", "Feed latency", more);
  const ui = item("ui-latency", "Kernel → screen p50 / p99", more);
  ui.parentElement.title = UI_LATENCY_HELP;
  const uiNote = ui.parentElement.appendChild(twEl("span", "tw-note", ""));
  const clients = item("clients", "Server clients", more);
  const age = item("age", "Last message", more);
  strip.append(details);
  frame.body.append(strip);

  const shownFeed = () => {
    const s = model.get("status") || {};
    const gone = twKernelGone(model);
    return gone ? ["stopped", gone] : [s.feed || "unknown", s.reason || ""];
  };
  const draw = () => {
    const s = model.get("status") || {};
    const [state, reason] = shownFeed();
    twText(feed, state);
    twClass(feed, `tw-value tw-feed-state tw-feed-${state}`);
    feed.title = [FEED_HELP[state], reason].filter(Boolean).join(" ");
    twText(source, s.source || "");
    source.parentElement.hidden = !s.source;
    twText(gap, twGapText(s.last_gap));
    twClass(gap, `tw-value tw-num ${s.last_gap ? "tw-has-gap" : ""}`);
    gap.title = s.last_gap ? "The feed was down or missed data in this span: candles and marks there may be incomplete." : "";
    journalItem.hidden = !s.journal || s.journal === "ok";
    twText(journal, s.journal || "");
    twText(latency, twMissing(s.feed_latency_ms) ? "–" : `${twFmt(s.feed_latency_ms, 1)} ms`);
    twText(clients, twMissing(s.clients) ? "–" : String(s.clients));
    tick();
  };
  const tick = () => {
    const s = model.get("status") || {};
    const now = Date.now();
    const [state] = shownFeed();
    if (state !== feed.textContent) draw(); // the kernel died since the last flush
    // a replay's prices carry the data's time: say when, not how long ago
    if (twMissing(s.last_price_ms)) twText(priceAge, "–");
    else if (s.source === "replay") twText(priceAge, new Date(s.last_price_ms).toISOString().slice(0, 19).replace("T", " "));
    else twText(priceAge, twAge(now - s.last_price_ms));
    const stale = !twMissing(s.last_price_ms) && s.source !== "replay" && now - s.last_price_ms > 10000;
    twClass(priceAge, `tw-value tw-num ${stale && state !== "stopped" ? "tw-stale" : ""}`);
    twText(age, s.last_message_ms ? twAge(now - s.last_message_ms) : "–");
    const { render: recent, backlog } = TW_UI.recent(WINDOW_MS);
    const p50 = TW_UI.percentile(recent, 50);
    const p99 = TW_UI.percentile(recent, 99);
    twText(ui, p50 === null ? "–" : `${p50} / ${p99} ms`);
    twText(uiNote, `${recent.length} updates, last 10 s${backlog ? ` (+${backlog} at start-up)` : ""}`);
  };
  let reported = Date.now();
  let updatesAtReport = 0;
  const report = () => {
    if (twKernelGone(model)) return;
    const now = Date.now();
    const total = Object.values(TW_UI.updates).reduce((a, b) => a + b, 0);
    const { render, age, backlog } = TW_UI.recent(WINDOW_MS);
    const work = {};
    for (const [panel, values] of Object.entries(TW_UI.workBy)) {
      work[panel] = { p50_ms: TW_UI.percentile(values, 50), p99_ms: TW_UI.percentile(values, 99), n: values.length };
    }
    model.set("ui_latency", {
      render_p50_ms: TW_UI.percentile(render, 50),
      render_p99_ms: TW_UI.percentile(render, 99),
      age_p50_ms: TW_UI.percentile(age, 50),
      age_p99_ms: TW_UI.percentile(age, 99),
      samples: render.length,
      startup_backlog: backlog,
      dom_updates_per_s: (1000 * (total - updatesAtReport)) / Math.max(1, now - reported),
      work_by_panel: work,
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
