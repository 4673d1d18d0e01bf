// Orders panel: tabs Open / History (the kernel sends the current tab's rows, sorted
// by time), a box of fixed height that scrolls under a sticky header, a Cancel button
// per open order and a two-step "Cancel all".  <tr class="tw-row" data-order-id="..."
// data-status="..."> per order; an order with fills gets a toggle that shows
// <tr class="tw-fills-row"> with each fill (price, quantity, fee, maker/taker, time).
// OCO and bracket orders list their legs (PROTOCOL: each with its own id and status)
// under the prices, and a bracket says which phase it is in ("in trade" once its entry
// filled), since the group's own status stays NEW until an exit leg ends it.
const FINAL = new Set(["FILLED", "CANCELED", "REJECTED", "EXPIRED"]);
const ROLE_LABEL = { entry: "entry", take_profit: "TP", stop_loss: "SL" };
const CONFIRM_MS = 3000;

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
  if (row.quote_amount) parts.push(`for ${row.quote_amount}`); // a market order by its amount
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

// "14:03:21" (local time); the title carries the date
function twClock(ms) {
  if (!ms) return "–";
  return new Date(ms).toLocaleTimeString("en-GB", { hour12: false });
}

// every fill of an order and of its legs, oldest first
function orderFills(row) {
  const own = (row.fills || []).map((f) => ({ ...f, leg: "" }));
  for (const leg of row.legs || []) {
    for (const f of leg.fills || []) own.push({ ...f, leg: ROLE_LABEL[legRole(leg)] || leg.type });
  }
  return own.sort((a, b) => (a.timestamp || 0) - (b.timestamp || 0));
}

function render({ model, el }) {
  const frame = twFrame(model, el, "Orders");
  const tabs = twEl("div", "tw-tabs");
  const tabButtons = {};
  for (const [tab, label] of [["open", "Open"], ["history", "History"]]) {
    const b = twEl("button", `tw-tab tw-tab-${tab}`, label);
    b.dataset.tab = tab;
    b.addEventListener("click", () => {
      model.set("tab", tab);
      model.save_changes();
    });
    tabButtons[tab] = b;
    tabs.append(b);
  }
  const cancelAll = twEl("button", "tw-cancel-all", "Cancel all");
  let confirmUntil = 0;
  cancelAll.addEventListener("click", () => {
    const now = Date.now();
    if (now > confirmUntil) {
      // a second click within 3 s confirms: one stray click cancels nothing
      confirmUntil = now + CONFIRM_MS;
      twText(cancelAll, `Confirm: cancel ${(model.get("counts") || {}).open || 0}?`);
      cancelAll.classList.add("tw-confirm");
      setTimeout(drawTools, CONFIRM_MS + 50);
      return;
    }
    confirmUntil = 0;
    model.send({ action: "cancel_all" });
    drawTools();
  });
  frame.header.insertBefore(tabs, frame.tools);
  frame.tools.append(cancelAll);

  const scroll = twEl("div", "tw-scroll");
  const table = twEl("table", "tw-table");
  const head = twEl("tr");
  const timeHead = twEl("th", "tw-text tw-sortable", "Time");
  timeHead.title = "Sort by time";
  timeHead.addEventListener("click", () => {
    model.set("newest_first", !model.get("newest_first"));
    model.save_changes();
  });
  head.append(twEl("th", "tw-action", ""), timeHead);
  for (const [label, cls] of [
    ["Symbol", "tw-text"], ["Side", "tw-text"], ["Type", "tw-text"],
    ["Filled / Qty", ""], ["Avg price", ""], ["Status", "tw-text"], ["Prices", "tw-text"],
  ]) head.append(twEl("th", cls, label));
  table.appendChild(twEl("thead")).append(head);
  const tbody = table.appendChild(twEl("tbody"));
  const empty = twEl("div", "tw-empty", "No open orders.");
  scroll.append(table, empty);
  frame.body.append(scroll);
  const rows = new Map();
  const expanded = new Set();

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
    const toggle = twEl("button", "tw-fills-toggle", "▸");
    toggle.title = "Show the fills";
    toggle.addEventListener("click", () => {
      if (expanded.has(id)) expanded.delete(id);
      else expanded.add(id);
      draw();
    });
    action.append(cancel, toggle);
    const cells = {
      time: cell("tw-time tw-text tw-num"), symbol: cell("tw-symbol tw-text"), side: cell("tw-side tw-text"),
      type: cell("tw-type tw-text"), quantity: cell("tw-num tw-quantity"), avg: cell("tw-num tw-avg-price"),
      status: cell("tw-text tw-status-cell"), prices: cell("tw-text tw-prices-cell"),
    };
    const typeName = cells.type.appendChild(twEl("div", "tw-type-name"));
    const orderId = cells.type.appendChild(twEl("div", "tw-order-id"));
    const badge = cells.status.appendChild(twEl("span", "tw-status-badge"));
    const phase = cells.status.appendChild(twEl("div", "tw-phase"));
    const reason = cells.status.appendChild(twEl("div", "tw-reason"));
    const prices = cells.prices.appendChild(twEl("span", "tw-prices"));
    const trail = cells.prices.appendChild(twEl("div", "tw-trail"));
    const stop = trail.appendChild(twEl("span", "tw-trail-stop tw-num"));
    const peak = trail.appendChild(twEl("span", "tw-peak tw-num"));
    const legs = cells.prices.appendChild(twEl("div", "tw-legs"));
    const fillsRow = twEl("tr", "tw-fills-row");
    fillsRow.dataset.orderId = id;
    const fillsCell = fillsRow.appendChild(twEl("td", "tw-fills-cell"));
    fillsCell.colSpan = 9;
    return {
      tr, cells, typeName, orderId, badge, phase, reason, prices, trail, stop, peak, legs,
      legKey: "", fillKey: "", cancel, toggle, fillsRow, fillsCell,
    };
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

  const drawFills = (entry, row, fills) => {
    const key = fills.map((f) => `${f.timestamp}|${f.price}|${f.quantity}`).join(";");
    if (key === entry.fillKey) return;
    entry.fillKey = key;
    const t = twEl("table", "tw-fills");
    const h = twEl("tr");
    for (const label of ["Time", "Leg", "Price", "Quantity", "Fee", "Liquidity"]) h.append(twEl("th", "", label));
    t.append(h);
    for (const f of fills) {
      const r = twEl("tr", "tw-fill");
      r.append(
        twEl("td", "tw-num", twClock(f.timestamp)),
        twEl("td", "", f.leg || "–"),
        twEl("td", "tw-num", twPrice(f.price, row.symbol)),
        twEl("td", "tw-num", twQty(f.quantity)),
        twEl("td", "tw-num", twMissing(f.fee) ? "–" : `${twQty(f.fee)} ${f.fee_asset || ""}`.trim()),
        twEl("td", "", f.maker ? "maker" : "taker"),
      );
      t.append(r);
    }
    entry.fillsCell.replaceChildren(t);
  };

  const drawTools = () => {
    const counts = model.get("counts") || {};
    const tab = model.get("tab");
    for (const [name, b] of Object.entries(tabButtons)) {
      twText(b, `${name === "open" ? "Open" : "History"} (${counts[name] || 0})`);
      b.classList.toggle("tw-active", name === tab);
    }
    const confirming = Date.now() < confirmUntil;
    cancelAll.hidden = tab !== "open" || !counts.open;
    if (!confirming) {
      twText(cancelAll, "Cancel all");
      cancelAll.classList.remove("tw-confirm");
    }
    twText(timeHead, model.get("newest_first") ? "Time ▾" : "Time ▴");
    twText(empty, tab === "open" ? "No open orders." : "No finished orders yet.");
  };

  const draw = () => {
    const data = model.get("rows") || [];
    const canceling = new Set(model.get("canceling") || []);
    const seen = new Set();
    let index = 0;
    const place = (tr) => {
      if (tbody.children[index] !== tr) tbody.insertBefore(tr, tbody.children[index] || null);
      index++;
    };
    for (const row of data) {
      seen.add(row.id);
      let entry = rows.get(row.id);
      if (!entry) {
        entry = makeRow(row.id);
        rows.set(row.id, entry);
      }
      place(entry.tr);
      const c = entry.cells;
      if (entry.tr.dataset.status !== row.status) entry.tr.dataset.status = row.status;
      twText(c.time, twClock(row.created_at || row.updated_at));
      c.time.title = row.created_at ? new Date(row.created_at).toISOString().replace("T", " ").slice(0, 23) : "";
      twText(c.symbol, row.symbol);
      twText(c.side, row.side);
      twClass(c.side, `tw-side tw-text ${row.side === "SELL" ? "tw-neg" : "tw-pos"}`);
      twText(entry.typeName, row.type);
      twText(entry.orderId, row.id);
      twText(c.quantity, `${twQty(row.filled_quantity)} / ${twQty(row.quantity)}`);
      twText(c.avg, twMissing(row.avg_price) ? "–" : twPrice(row.avg_price, row.symbol));
      twText(entry.badge, row.status);
      twClass(entry.badge, `tw-status-badge tw-status-${row.status.toLowerCase()}`);
      const phase = orderPhase(row);
      twText(entry.phase, phase);
      entry.phase.hidden = !phase;
      twText(entry.reason, row.reason || "");
      entry.reason.hidden = !row.reason;
      entry.reason.title = row.reason_code || "";
      twText(entry.prices, orderPrices({ ...row, fill_price: null }));
      twText(entry.stop, twMissing(row.current_stop_price) ? "" : `stop ${twPrice(row.current_stop_price, row.symbol)}`);
      twText(entry.peak, twMissing(row.peak_price) ? "" : `peak ${twPrice(row.peak_price, row.symbol)}`);
      entry.trail.hidden = twMissing(row.current_stop_price) && twMissing(row.peak_price);
      drawLegs(entry, row);
      const open = !FINAL.has(row.status);
      entry.cancel.hidden = !open;
      entry.cancel.disabled = canceling.has(row.id);
      const fills = orderFills(row);
      entry.toggle.hidden = fills.length === 0;
      const shown = fills.length > 0 && expanded.has(row.id);
      twText(entry.toggle, shown ? "▾" : "▸");
      entry.toggle.title = `${fills.length} fill${fills.length === 1 ? "" : "s"}`;
      if (shown) {
        drawFills(entry, row, fills);
        place(entry.fillsRow);
      } else if (entry.fillsRow.parentNode) {
        entry.fillsRow.remove();
      }
    }
    for (const [key, entry] of rows) {
      if (!seen.has(key)) {
        entry.tr.remove();
        entry.fillsRow.remove();
        rows.delete(key);
      }
    }
    empty.hidden = rows.size > 0;
    drawTools();
  };
  draw();
  const off = twOnFlush(model, "tw-orders", draw);
  model.on("change:canceling", draw);
  model.on("change:tab", drawTools);
  model.on("change:newest_first", drawTools);
  return () => {
    off();
    model.off("change:canceling", draw);
    model.off("change:tab", drawTools);
    model.off("change:newest_first", drawTools);
    frame.cleanup();
  };
}

export default { render };
