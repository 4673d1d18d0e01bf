// Orders panel: <tr class="tw-row" data-order-id="..." data-status="..."> per order,
// open ones first; a cancel button on open orders, the reason on rejected ones.
const FINAL = new Set(["FILLED", "CANCELED", "REJECTED", "EXPIRED"]);

function orderPrices(row) {
  const parts = [];
  const add = (label, value) => !twMissing(value) && parts.push(`${label} ${twPrice(value)}`);
  add("limit", row.price);
  add("stop", row.stop_price);
  add("tp", row.take_profit);
  add("sl", row.stop_loss);
  if (!twMissing(row.trail_percent)) parts.push(`trail ${twFmt(row.trail_percent, 2)}%`);
  add("trail", row.trail_amount);
  if (!twMissing(row.trailing_delta)) parts.push(`trail ${row.trailing_delta} bips`);
  add("act", row.activation_price);
  add("fill", row.fill_price);
  return parts.join(" · ");
}

function render({ model, el }) {
  const frame = twFrame(model, el, "Orders");
  const table = twEl("table", "tw-table");
  const head = twEl("tr");
  // narrow first: the action and the status stay visible when the panel is narrow;
  // the prices (with the live trailing stop and peak) come last and wrap
  for (const [label, cls] of [
    ["", ""], ["Order", "tw-text"], ["Symbol", "tw-text"], ["Side", "tw-text"], ["Type", "tw-text"],
    ["Filled / Qty", ""], ["Status", "tw-text"], ["Prices", "tw-text"],
  ]) head.append(twEl("th", cls, label));
  table.appendChild(twEl("thead")).append(head);
  const tbody = table.appendChild(twEl("tbody"));
  const empty = twEl("div", "tw-empty", "No orders yet.");
  frame.body.append(table, empty);
  const rows = new Map();

  const makeRow = (id) => {
    const tr = twEl("tr", "tw-row");
    tr.dataset.orderId = id;
    const cell = (cls) => tr.appendChild(twEl("td", cls));
    const action = cell("tw-action");
    const cancel = twEl("button", "tw-cancel", "Cancel");
    cancel.addEventListener("click", () => {
      cancel.disabled = true;
      model.send({ action: "cancel", order_id: id });
    });
    action.append(cancel);
    const cells = {
      id: cell("tw-order-id tw-text"), symbol: cell("tw-symbol tw-text"), side: cell("tw-side tw-text"),
      type: cell("tw-type tw-text"), quantity: cell("tw-num tw-quantity"), status: cell("tw-text tw-status-cell"),
      prices: cell("tw-text tw-prices-cell"),
    };
    const badge = cells.status.appendChild(twEl("span", "tw-status-badge"));
    const reason = cells.status.appendChild(twEl("div", "tw-reason"));
    const prices = cells.prices.appendChild(twEl("span", "tw-prices"));
    const stop = cells.prices.appendChild(twEl("span", "tw-trail-stop tw-num"));
    const peak = cells.prices.appendChild(twEl("span", "tw-peak tw-num"));
    return { tr, cells, badge, reason, prices, stop, peak, cancel };
  };

  const draw = () => {
    const data = model.get("rows") || [];
    const canceling = new Set(model.get("canceling") || []);
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
      entry.tr.dataset.status = row.status;
      twText(c.id, row.id);
      twText(c.symbol, row.symbol);
      twText(c.side, row.side);
      twClass(c.side, `tw-side tw-text ${row.side === "SELL" ? "tw-neg" : "tw-pos"}`);
      twText(c.type, row.type);
      twText(c.quantity, `${twQty(row.filled_quantity)} / ${twQty(row.quantity)}`);
      twText(entry.badge, row.status);
      twClass(entry.badge, `tw-status-badge tw-status-${row.status.toLowerCase()}`);
      twText(entry.reason, row.reason || "");
      entry.reason.hidden = !row.reason;
      const legs = (row.legs || []).map((leg) => `${leg.type || "leg"} ${leg.status}`).join(", ");
      twText(entry.prices, orderPrices(row) + (legs ? ` [${legs}]` : ""));
      twText(entry.stop, twMissing(row.current_stop_price) ? "" : `stop ${twPrice(row.current_stop_price)}`);
      twText(entry.peak, twMissing(row.peak_price) ? "" : `peak ${twPrice(row.peak_price)}`);
      const open = !FINAL.has(row.status);
      entry.cancel.hidden = !open;
      entry.cancel.disabled = canceling.has(row.id);
    });
    for (const [id, entry] of rows) {
      if (!seen.has(id)) {
        entry.tr.remove();
        rows.delete(id);
      }
    }
    empty.hidden = rows.size > 0;
  };
  draw();
  const off = twOnFlush(model, "tw-orders", draw);
  model.on("change:canceling", draw);
  return () => {
    off();
    model.off("change:canceling", draw);
    frame.cleanup();
  };
}

export default { render };
