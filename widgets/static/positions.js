// Positions panel: <tr class="tw-row" data-position-id="..."> per open position.
function render({ model, el }) {
  const frame = twFrame(model, el, "Positions");
  const table = twEl("table", "tw-table");
  const head = twEl("tr");
  for (const [label, cls] of [
    ["Symbol", "tw-text"], ["Side", "tw-text"], ["Qty", ""], ["Entry", ""],
    ["Price", ""], ["P&L", ""], ["P&L %", ""], ["", ""],
  ]) head.append(twEl("th", cls, label));
  table.appendChild(twEl("thead")).append(head);
  const tbody = table.appendChild(twEl("tbody"));
  const empty = twEl("div", "tw-empty", "No open positions.");
  frame.body.append(table, empty);
  const rows = new Map();

  const makeRow = (id) => {
    const tr = twEl("tr", "tw-row");
    tr.dataset.positionId = id;
    const cell = (cls) => tr.appendChild(twEl("td", cls));
    const cells = {
      symbol: cell("tw-symbol tw-text"), side: cell("tw-side tw-text"), quantity: cell("tw-num tw-quantity"),
      entry: cell("tw-num tw-entry"), price: cell("tw-num tw-current"), pnl: cell("tw-num tw-pnl"),
      pnlPct: cell("tw-num tw-pnl-pct"),
    };
    const close = twEl("button", "tw-close", "Close");
    close.addEventListener("click", () => {
      close.disabled = true;
      model.send({ action: "close", position_id: id });
    });
    tr.appendChild(twEl("td")).append(close);
    return { tr, cells, close };
  };

  const draw = () => {
    const data = model.get("rows") || [];
    const closing = new Set(model.get("closing") || []);
    const seen = new Set();
    data.forEach((row, index) => {
      seen.add(row.id);
      let entry = rows.get(row.id);
      if (!entry) {
        entry = makeRow(row.id);
        rows.set(row.id, entry);
      }
      if (tbody.children[index] !== entry.tr) tbody.insertBefore(entry.tr, tbody.children[index] || null);
      const c = entry.cells;
      twText(c.symbol, row.symbol);
      twText(c.side, row.side);
      twClass(c.side, `tw-side tw-text ${row.side === "sell" ? "tw-neg" : "tw-pos"}`);
      twText(c.quantity, twQty(row.quantity));
      twLearnPrice(row.symbol, row.current_price);
      twText(c.entry, twPrice(row.entry_price, row.symbol));
      twText(c.price, twPrice(row.current_price, row.symbol));
      twText(c.pnl, twSigned(row.pnl, 2));
      twClass(c.pnl, `tw-num tw-pnl ${twSignClass(row.pnl, 2)}`);
      twText(c.pnlPct, twSigned(row.pnl_pct, 2, "%"));
      twClass(c.pnlPct, `tw-num tw-pnl-pct ${twSignClass(row.pnl_pct, 2)}`);
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
