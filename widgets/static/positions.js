// Positions panel: tabs Open / Closed (this session), newest first, in a box of fixed
// height that scrolls.  <tr class="tw-row" data-position-id="..."> per position; a
// stale mark (old, or from a journal restore: PROTOCOL v2 `stale`) is flagged, since
// its P&L is not live.
const STALE_HELP = "The mark is old (or from a restart): this P&L is not live.";

function render({ model, el }) {
  const frame = twFrame(model, el, "Positions");
  const tabs = twEl("div", "tw-tabs");
  const tabButtons = {};
  for (const [tab, label] of [["open", "Open"], ["closed", "Closed"]]) {
    const b = twEl("button", `tw-tab tw-tab-${tab}`, label);
    b.dataset.tab = tab;
    b.addEventListener("click", () => {
      model.set("tab", tab);
      model.save_changes();
    });
    tabButtons[tab] = b;
    tabs.append(b);
  }
  frame.header.insertBefore(tabs, frame.tools);
  const scroll = twEl("div", "tw-scroll");
  const table = twEl("table", "tw-table");
  const head = twEl("tr");
  const heads = {};
  for (const [key, label, cls] of [
    ["symbol", "Symbol", "tw-text"], ["side", "Side", "tw-text"], ["quantity", "Qty", ""],
    ["entry", "Entry", ""], ["price", "Mark", ""], ["pnl", "P&L", ""], ["last", "P&L %", ""],
    ["action", "", "tw-action"],
  ]) heads[key] = head.appendChild(twEl("th", cls, label));
  table.appendChild(twEl("thead")).append(head);
  const tbody = table.appendChild(twEl("tbody"));
  const empty = twEl("div", "tw-empty", "No open positions.");
  scroll.append(table, empty);
  frame.body.append(scroll);
  const rows = new Map();

  const makeRow = (id) => {
    const tr = twEl("tr", "tw-row");
    tr.dataset.positionId = id;
    const cell = (cls) => tr.appendChild(twEl("td", cls));
    const cells = {
      symbol: cell("tw-symbol tw-text"), side: cell("tw-side tw-text"), quantity: cell("tw-num tw-quantity"),
      entry: cell("tw-num tw-entry"), price: cell("tw-num tw-current"), pnl: cell("tw-num tw-pnl"),
      last: cell("tw-num tw-pnl-pct"),
    };
    const mark = cells.price.appendChild(twEl("span", "tw-mark"));
    const stale = cells.price.appendChild(twEl("span", "tw-stale-flag", "stale"));
    stale.title = STALE_HELP;
    const close = twEl("button", "tw-close", "Close");
    close.addEventListener("click", () => {
      close.disabled = true;
      model.send({ action: "close", position_id: id });
    });
    tr.appendChild(twEl("td", "tw-action")).append(close);
    return { tr, cells, close, mark, stale };
  };

  const draw = () => {
    const data = model.get("rows") || [];
    const tab = model.get("tab");
    const closedTab = tab === "closed";
    const counts = model.get("counts") || {};
    for (const [name, b] of Object.entries(tabButtons)) {
      twText(b, `${name === "open" ? "Open" : "Closed"} (${counts[name] || 0})`);
      b.classList.toggle("tw-active", name === tab);
    }
    twText(heads.price, closedTab ? "Exit" : "Mark");
    twText(heads.last, closedTab ? "Closed" : "P&L %");
    twText(empty, closedTab ? "No position closed yet." : "No open positions.");
    const closing = new Set(model.get("closing") || []);
    const seen = new Set();
    data.forEach((row, index) => {
      const key = `${tab}:${row.id}`;
      seen.add(key);
      let entry = rows.get(key);
      if (!entry) {
        entry = makeRow(row.id);
        rows.set(key, entry);
      }
      if (tbody.children[index] !== entry.tr) tbody.insertBefore(entry.tr, tbody.children[index] || null);
      const c = entry.cells;
      twText(c.symbol, row.symbol);
      twText(c.side, row.side);
      twClass(c.side, `tw-side tw-text ${row.side === "sell" ? "tw-neg" : "tw-pos"}`);
      twText(c.quantity, twQty(row.quantity));
      if (!closedTab && !row.stale) twLearnPrice(row.symbol, row.current_price);
      twText(c.entry, twPrice(row.entry_price, row.symbol));
      twText(entry.mark, twPrice(closedTab ? row.exit_price : row.current_price, row.symbol));
      const stale = !closedTab && row.stale;
      entry.stale.hidden = !stale;
      c.price.title = stale && row.price_ms ? `${STALE_HELP} Marked at ${new Date(row.price_ms).toISOString().replace("T", " ").slice(0, 19)} UTC.` : "";
      twClass(entry.tr, `tw-row${stale ? " tw-stale" : ""}`);
      twText(c.pnl, twSigned(row.pnl, 2));
      twClass(c.pnl, `tw-num tw-pnl ${twSignClass(row.pnl, 2)}`);
      if (closedTab) {
        twText(c.last, row.closed_ms ? new Date(row.closed_ms).toLocaleTimeString("en-GB", { hour12: false }) : "–");
        twClass(c.last, "tw-num tw-closed-at");
      } else {
        twText(c.last, twSigned(row.pnl_pct, 2, "%"));
        twClass(c.last, `tw-num tw-pnl-pct ${twSignClass(row.pnl_pct, 2)}`);
      }
      entry.close.hidden = closedTab;
      entry.close.disabled = closing.has(row.id);
    });
    twPruneRows(rows, seen, empty);
  };
  draw();
  const off = twOnFlush(model, "tw-positions", draw);
  model.on("change:closing", draw);
  return () => {
    off();
    model.off("change:closing", draw);
    frame.cleanup();
  };
}

export default { render };
