// Order ticket: a Buy / Sell side switch, inputs named by data-field, the balance the
// order spends, 25/50/75/100 % of it, one submit button in the side's colour.
// Which price inputs show for a type comes from the kernel (type_fields), the same
// table the kernel validates with; a new type starts with empty prices (a limit price
// left over must not turn a later stop into a stop-limit).  Quantities round down to
// the symbol's step and prices to its tick as they are typed in (on change); the
// kernel rounds again, exactly, before sending.
const PRICE_FIELDS = ["price", "stop_price", "take_profit", "stop_loss", "trail", "activation_price"];
const FRACTIONS = [0.25, 0.5, 0.75, 1];

// decimals of a step or tick: "0.00001000" -> 5, "1.00" -> 0, 1e-7 -> 7
function twStepDecimals(step) {
  const text = String(step);
  if (/e-/i.test(text)) return parseInt(text.split(/e-/i)[1], 10);
  const dot = text.indexOf(".");
  if (dot < 0) return 0;
  return Math.max(0, text.replace(/0+$/, "").length - dot - 1);
}

// value on the grid of `step` (down for quantities, nearest for prices), as text;
// null when either is not a positive number
function twOnGrid(value, step, down) {
  // "97,000.50", as the panels write prices, is 97000.50 (a decimal comma is not read)
  const text = String(value).trim();
  const v = Number(/^\d{1,3}(,\d{3})+(\.\d*)?$/.test(text) ? text.replace(/,/g, "") : text);
  const s = Number(step);
  // beyond 1e21 toFixed writes "1e+25", and "1e999" is Infinity: left as typed, for
  // the kernel's check to name
  if (!(v > 0) || !(v < 1e21) || !(s > 0)) return null;
  const n = v / s;
  const k = down ? Math.floor(n + 1e-9) : Math.round(n);
  return (k * s).toFixed(twStepDecimals(step));
}

function render({ model, el }) {
  const frame = twFrame(model, el, "Order ticket");
  const labels = model.get("labels") || {};
  const sides = twEl("div", "tw-sides");
  const buySide = twEl("button", "tw-side-choice tw-side-buy", "Buy");
  const sellSide = twEl("button", "tw-side-choice tw-side-sell", "Sell");
  sides.append(buySide, sellSide);
  frame.tools.append(sides);
  const form = twEl("div", "tw-form");
  const fields = {}; // name -> {wrap, input, error, line}

  const addField = (name, input) => {
    const wrap = twEl("label", "tw-field");
    wrap.dataset.field = name;
    wrap.append(twEl("span", "tw-label", labels[name] || name));
    input.classList.add("tw-input", `tw-${name.replace("_", "-")}`);
    input.dataset.field = name;
    const line = twEl("span", "tw-input-line");
    line.append(input);
    wrap.append(line);
    const error = twEl("div", "tw-field-error");
    wrap.append(error);
    form.append(wrap);
    fields[name] = { wrap, input, error, line };
    return input;
  };
  const select = (options, names = {}) => {
    const s = twEl("select");
    for (const o of options) s.append(Object.assign(twEl("option", "", names[o] || o), { value: o }));
    return s;
  };
  const number = () => Object.assign(twEl("input"), { type: "text", inputMode: "decimal", autocomplete: "off" });

  const symbol = addField("symbol", Object.assign(twEl("input"), { type: "text", autocomplete: "off" }));
  const listId = `tw-symbols-${Math.random().toString(36).slice(2)}`;
  const datalist = twEl("datalist");
  datalist.id = listId;
  symbol.setAttribute("list", listId);
  const last = twEl("span", "tw-last-price");
  fields.symbol.line.append(datalist);
  fields.symbol.wrap.querySelector(".tw-label").append(" ", last);
  const type = addField("type", select(model.get("order_types") || [], model.get("type_labels") || {}));
  const quantity = addField("quantity", number());
  const fractions = twEl("div", "tw-fractions");
  for (const f of FRACTIONS) {
    const b = twEl("button", "tw-fraction", `${f * 100}%`);
    b.dataset.fraction = String(f);
    b.type = "button";
    b.addEventListener("click", (e) => {
      e.preventDefault();
      model.send({ action: "size", fraction: f, form: values() });
    });
    fractions.append(b);
  }
  fields.quantity.wrap.insertBefore(fractions, fields.quantity.error);
  // a market order's quantity may be an amount of the quote asset (Binance's
  // quoteOrderQty): "spend 100 USDT"; the options are named by the symbol's assets
  const unit = select(["base", "quote"]);
  unit.classList.add("tw-quantity-unit");
  unit.title = "Quantity in the base asset, or (a market order) the amount of the quote asset to spend or receive";
  fields.quantity.line.append(unit);
  for (const name of PRICE_FIELDS) addField(name, number());
  const trailKind = select(model.get("trail_kinds") || [], model.get("trail_labels") || {});
  trailKind.classList.add("tw-trail-kind");
  fields.trail.line.append(trailKind);

  const available = twEl("div", "tw-available");
  const hints = twEl("div", "tw-hints");
  const formError = twEl("div", "tw-form-error");
  const disabledReason = twEl("div", "tw-disabled-reason");
  const submit = twEl("button", "tw-submit tw-buy", "Buy");
  frame.body.append(form, available, hints, formError, disabledReason, submit);

  let side = "BUY";
  const info = () => (model.get("infos") || {})[symbol.value.trim().toUpperCase()] || {};
  const values = () => {
    const v = { symbol: symbol.value, side, type: type.value, quantity: quantity.value };
    v.quantity_unit = unit.hidden ? "base" : unit.value;
    for (const name of PRICE_FIELDS) if (!fields[name].wrap.hidden) v[name] = fields[name].input.value;
    v.trail_kind = trailKind.value;
    return v;
  };

  const layout = () => {
    const market = type.value === "MARKET";
    if (!market && unit.value === "quote") {
      // an amount of USDT must not become a quantity of BTC under another type
      unit.value = "base";
      quantity.value = "";
    }
    unit.hidden = !market;
    const spec = (model.get("type_fields") || {})[type.value] || { required: [], optional: [] };
    for (const name of PRICE_FIELDS) {
      const required = spec.required.includes(name);
      const shown = required || spec.optional.includes(name);
      fields[name].wrap.hidden = !shown;
      fields[name].wrap.classList.toggle("tw-required", required);
    }
  };
  type.addEventListener("change", () => {
    for (const name of PRICE_FIELDS) fields[name].input.value = "";
    for (const f of Object.values(fields)) {
      f.error.textContent = "";
      f.wrap.classList.remove("tw-invalid");
    }
    formError.hidden = true;
    layout();
  });

  const setSide = (value) => {
    side = value;
    buySide.classList.toggle("tw-active", side === "BUY");
    sellSide.classList.toggle("tw-active", side === "SELL");
    drawSubmit();
    drawWallet();
  };
  buySide.addEventListener("click", () => setSide("BUY"));
  sellSide.addEventListener("click", () => setSide("SELL"));

  const drawSubmit = () => {
    const s = symbol.value.trim().toUpperCase();
    const base = info().base_asset || s;
    twText(submit, `${side === "BUY" ? "Buy" : "Sell"} ${base}`.trim());
    twClass(submit, `tw-submit ${side === "BUY" ? "tw-buy" : "tw-sell"}`);
  };

  // what the order spends: a buy the quote asset, a sell the base asset
  const drawWallet = () => {
    const i = info();
    const names = [i.base_asset || "base", i.quote_asset || "quote"];
    names.forEach((name, k) => {
      if (unit.options[k].textContent !== name) unit.options[k].textContent = name;
    });
    const wallet = model.get("wallet") || {};
    const balances = wallet.balances || {};
    const asset = side === "BUY" ? i.quote_asset : i.base_asset;
    let free = asset && balances[asset] ? balances[asset].free : undefined;
    if (twMissing(free) && side === "BUY" && !twMissing(wallet.available)) free = wallet.available;
    const shown = !twMissing(free) && asset;
    const money = ["USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI", "USD", "EUR", "TRY"].includes(asset);
    twText(available, shown ? `Available ${money ? twFmt(free, 2) : twQty(free)} ${asset}` : side === "SELL" && asset ? `Available – ${asset}` : "");
    const hint = [];
    if (i.tick_size) hint.push(`tick ${twQty(Number(i.tick_size))}`);
    if (i.step_size) hint.push(`step ${twQty(Number(i.step_size))} ${i.base_asset || ""}`.trim());
    if (i.min_notional) hint.push(`min order ${twFmt(Number(i.min_notional), 2)} ${i.quote_asset || ""}`.trim());
    twText(hints, hint.join(" · "));
  };

  // on change (not on every key): the value snaps to the symbol's grid
  unit.addEventListener("change", () => {
    quantity.value = "";  // a number typed in one unit means nothing in the other
    fields.quantity.error.textContent = "";
    fields.quantity.wrap.classList.remove("tw-invalid");
  });
  quantity.addEventListener("change", () => {
    if (!unit.hidden && unit.value === "quote") {
      const cents = twOnGrid(quantity.value, "0.01", true);
      if (cents !== null && Number(cents) > 0) quantity.value = cents;
      return;
    }
    const step = info().step_size;
    const snapped = step ? twOnGrid(quantity.value, step, true) : null;
    if (snapped !== null && Number(snapped) > 0) quantity.value = snapped;
  });
  for (const name of ["price", "stop_price", "take_profit", "stop_loss", "activation_price"]) {
    const input = fields[name].input;
    input.addEventListener("change", () => {
      const tick = info().tick_size;
      const snapped = tick ? twOnGrid(input.value, tick, false) : null;
      if (snapped !== null && Number(snapped) > 0) input.value = snapped;
    });
  }

  const applyForm = () => {
    const f = model.get("form") || {};
    if (f.symbol !== undefined) symbol.value = f.symbol;
    if (f.type && f.type !== type.value) {
      type.value = f.type;
      layout();
    }
    if (f.side) setSide(f.side);
    if (f.quantity_unit && !unit.hidden) unit.value = f.quantity_unit;
    if (f.quantity !== undefined) quantity.value = f.quantity;
    for (const name of PRICE_FIELDS) if (f[name] !== undefined) fields[name].input.value = f[name];
    showPrices();
  };
  model.on("change:form", applyForm);

  submit.addEventListener("click", () => model.send({ action: "submit", form: values() }));

  const showErrors = () => {
    const errors = model.get("errors") || {};
    for (const [name, f] of Object.entries(fields)) {
      f.error.textContent = errors[name] || "";
      f.wrap.classList.toggle("tw-invalid", Boolean(errors[name]));
    }
    // errors for fields without an input (side) join the form-level error
    const extra = Object.entries(errors).filter(([name]) => !(name in fields));
    formError.textContent = extra.map(([name, text]) => (name === "form" ? text : `${name}: ${text}`)).join("\n");
    formError.hidden = extra.length === 0;
  };
  const controls = () => [symbol, type, quantity, unit, trailKind, submit, buySide, sellSide,
    ...fractions.children, ...PRICE_FIELDS.map((n) => fields[n].input)];
  const showState = () => {
    const reason = model.get("disabled") || twKernelGone(model);
    const off = Boolean(reason);
    for (const c of controls()) if (c.disabled !== off) c.disabled = off;
    if (!off && model.get("busy")) submit.disabled = true;
    twText(disabledReason, reason ? (model.get("disabled") || `Unavailable: ${reason}`) : "");
    disabledReason.hidden = !reason;
    frame.root.classList.toggle("tw-off", off);
  };
  let lastSymbol = "";
  const showPrices = () => {
    const prices = model.get("prices") || {};
    const symbols = model.get("symbols") || [];
    if (datalist.children.length !== symbols.length) {
      datalist.replaceChildren(...symbols.map((s) => Object.assign(twEl("option"), { value: s })));
    }
    for (const [s, price] of Object.entries(prices)) twLearnPrice(s, price);
    const current = symbol.value.trim().toUpperCase();
    const p = prices[current];
    twText(last, p === undefined ? "" : `last ${twPrice(p, current)}`);
    if (current !== lastSymbol) {
      lastSymbol = current;
      drawSubmit();
    }
    drawWallet();
  };
  symbol.addEventListener("input", showPrices);
  symbol.addEventListener("change", () => {
    const s = symbol.value.trim().toUpperCase();
    if (s) model.send({ action: "symbol", symbol: s });
  });
  const initial = model.get("form") || {};
  symbol.value = initial.symbol || "";
  type.value = initial.type || "MARKET";
  quantity.value = initial.quantity || "";
  layout();
  setSide(initial.side || "BUY");
  showErrors();
  showState();
  showPrices();
  model.on("change:errors", showErrors);
  model.on("change:busy", showState);
  model.on("change:disabled", showState);
  const kernelWatch = setInterval(() => {
    if (Boolean(twKernelGone(model)) !== frame.root.classList.contains("tw-off") && !model.get("disabled")) showState();
  }, 1000);
  const off = twOnFlush(model, "tw-ticket", showPrices);
  return () => {
    off();
    clearInterval(kernelWatch);
    model.off("change:form", applyForm);
    model.off("change:errors", showErrors);
    model.off("change:busy", showState);
    model.off("change:disabled", showState);
    frame.cleanup();
  };
}

export default { render };
