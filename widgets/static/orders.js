// Orders panel: <tr class="tw-row" data-order-id="..." data-status="..."> per order,
// open ones first; a cancel button on open orders, the reason on rejected ones.
// OCO and bracket orders list their legs (PROTOCOL: each with its own id and status)
// under the prices, and a bracket says which phase it is in ("in trade" once its entry
// filled), since the group's own status stays NEW until an exit leg ends it.
const FINAL = new Set(["FILLED", "CANCELED", "REJECTED", "EXPIRED"]);
const ROLE_LABEL = { entry: "entry", take_profit: "TP", stop_loss: "SL" };

// The order's own prices, short: "TP 97,053.96 · SL 96,956.96", "limit 3,000.00 · @ 2,999.10"
function orderPrices(row) {
  const sym = row.symbol || "";
  const parts = [];
  // a group's legs show its take profit, stop and entry themselves, with their status
  const legs = (row.legs || []).length > 0;
  const add = (label, value) => !legs && !twMissing(value) && parts.push(`${label} ${twPrice(value, sym)}`);
  add("limit", row.price);
  add("stop", row.stop_price);
  add("TP", row.take_profit);
  add("SL", row.stop_loss);
  if (!twMissing(row.trail_percent)) parts.push(`trail ${twFmt(row.trail_percent, 2)}%`);
  add("trail", row.trail_amount);
  if (!twMissing(row.trailing_delta)) parts.push(`trail ${row.trailing_delta} bips`);
  if (!twMissing(row.activation_price)) parts.push(`act ${twPrice(row.activation_price, sym)}`);
  add("@", row.fill_price);
  return parts.join(" · ");
}

// what a leg is for: its role when the engine says it, else guessed from its type
function legRole(leg) {
  if (leg.role) return leg.role;
  if (leg.type === "STOP_LOSS" || leg.type === "TRAILING_STOP") return "stop_loss";
  if (leg.type === "TAKE_PROFIT" || leg.type === "LIMIT") return "take_profit";
  return "entry";
}

// one leg, short: "TP 650.26", "entry @ 649.96"; the status is its badge
function legText(leg, symbol = "") {
  const role = legRole(leg);
  const label = ROLE_LABEL[role] || leg.type || "leg";
  if (!twMissing(leg.fill_price) && leg.status === "FILLED") return `${label} @ ${twPrice(leg.fill_price, symbol)}`;
  const price = [leg.current_stop_price, leg.stop_price, leg.price].find((v) => !twMissing(v));
  return price === undefined ? label : `${label} ${twPrice(price, symbol)}`;
}

// A group's phase, from its legs: "" when there is nothing to add to the status
function orderPhase(row) {
  const legs = row.legs || [];
  if (!legs.length) return "";
  const filledExit = legs.find((l) => legRole(l) !== "entry" && l.status === "FILLED");
  if (filledExit) return `closed by ${ROLE_LABEL[legRole(filledExit)] || filledExit.type}`;
  if (FINAL.has(row.status)) return "";
  const entry = legs.find((l) => legRole(l) === "entry");
  if (entry && entry.status !== "FILLED") return "awaiting entry";
  const live = legs.filter((l) => legRole(l) !== "entry" && !FINAL.has(l.status));
  const names = live.map((l) => ROLE_LABEL[legRole(l)] || l.type).join(" + ");
  if (entry) return names ? `in trade, ${names} live` : "in trade";
  return names ? `${names} live` : "";
}

function render({ model, el }) {
  const frame = twFrame(model, el, "Orders");
  const table = twEl("table", "tw-table");
  const head = twEl("tr");
  // narrow first: the action and the status stay visible when the panel is narrow;
  // the prices (with the live trailing stop and peak, and the legs) come last and wrap
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
    const phase = cells.status.appendChild(twEl("div", "tw-phase"));
    const reason = cells.status.appendChild(twEl("div", "tw-reason"));
    const prices = cells.prices.appendChild(twEl("span", "tw-prices"));
    const trail = cells.prices.appendChild(twEl("div", "tw-trail"));
    const stop = trail.appendChild(twEl("span", "tw-trail-stop tw-num"));
    const peak = trail.appendChild(twEl("span", "tw-peak tw-num"));
    const legs = cells.prices.appendChild(twEl("div", "tw-legs"));
    return { tr, cells, badge, phase, reason, prices, trail, stop, peak, legs, legKey: "", cancel };
  };

  // the legs change only on order events: rebuild them only when their text changes
  const drawLegs = (entry, row) => {
    const legs = row.legs || [];
    const key = legs.map((l) => `${l.id}|${l.status}|${legText(l, row.symbol)}`).join(";");
    if (key === entry.legKey) return;
    entry.legKey = key;
    entry.legs.replaceChildren(
      ...legs.map((leg) => {
        const item = twEl("span", "tw-leg");
        item.dataset.legId = leg.id;
        item.dataset.role = legRole(leg);
        item.dataset.status = leg.status;
        item.title = `${leg.id} ${leg.type} ${leg.status}`;
        item.append(
          twEl("span", "tw-leg-text", legText(leg, row.symbol)),
          twEl("span", `tw-leg-status tw-leg-${leg.status.toLowerCase()}`, leg.status),
        );
        return item;
      }),
    );
    entry.legs.hidden = !legs.length;
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
      if (entry.tr.dataset.status !== row.status) entry.tr.dataset.status = row.status;
      twText(c.id, row.id);
      twText(c.symbol, row.symbol);
      twText(c.side, row.side);
      twClass(c.side, `tw-side tw-text ${row.side === "SELL" ? "tw-neg" : "tw-pos"}`);
      twText(c.type, row.type);
      twText(c.quantity, `${twQty(row.filled_quantity)} / ${twQty(row.quantity)}`);
      twText(entry.badge, row.status);
      twClass(entry.badge, `tw-status-badge tw-status-${row.status.toLowerCase()}`);
      const phase = orderPhase(row);
      twText(entry.phase, phase);
      entry.phase.hidden = !phase;
      twText(entry.reason, row.reason || "");
      entry.reason.hidden = !row.reason;
      twText(entry.prices, orderPrices(row));
      twText(entry.stop, twMissing(row.current_stop_price) ? "" : `stop ${twPrice(row.current_stop_price, row.symbol)}`);
      twText(entry.peak, twMissing(row.peak_price) ? "" : `peak ${twPrice(row.peak_price, row.symbol)}`);
      entry.trail.hidden = twMissing(row.current_stop_price) && twMissing(row.peak_price);
      drawLegs(entry, row);
      const open = !FINAL.has(row.status);
      entry.cancel.hidden = !open;
      entry.cancel.disabled = canceling.has(row.id);
    });
    twPruneRows(rows, seen, empty);
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
