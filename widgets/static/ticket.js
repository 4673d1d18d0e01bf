// Order ticket: inputs named by data-field; Buy / Sell submit with that side.
// Which price inputs show for a type comes from the kernel (type_fields), the same
// table the kernel validates with.
const PRICE_FIELDS = ["price", "stop_price", "take_profit", "stop_loss", "trail", "activation_price"];

function render({ model, el }) {
  const frame = twFrame(model, el, "Order ticket");
  const labels = model.get("labels") || {};
  const form = twEl("div", "tw-form");
  const fields = {}; // name -> {wrap, input, error}

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
  const select = (options) => {
    const s = twEl("select");
    for (const o of options) s.append(Object.assign(twEl("option", "", o), { value: o }));
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
  const type = addField("type", select(model.get("order_types") || []));
  const quantity = addField("quantity", number());
  for (const name of PRICE_FIELDS) addField(name, number());
  const trailKind = select(model.get("trail_kinds") || []);
  trailKind.classList.add("tw-trail-kind");
  fields.trail.line.append(trailKind);

  const formError = twEl("div", "tw-form-error");
  const buttons = twEl("div", "tw-buttons");
  const buy = twEl("button", "tw-submit tw-buy", "Buy");
  const sell = twEl("button", "tw-submit tw-sell", "Sell");
  buttons.append(buy, sell);
  frame.body.append(form, formError, buttons);

  const initial = model.get("form") || {};
  symbol.value = initial.symbol || "";
  type.value = initial.type || "MARKET";
  quantity.value = initial.quantity || "";

  const layout = () => {
    const spec = (model.get("type_fields") || {})[type.value] || { required: [], optional: [] };
    for (const name of PRICE_FIELDS) {
      const required = spec.required.includes(name);
      const shown = required || spec.optional.includes(name);
      fields[name].wrap.hidden = !shown;
      fields[name].wrap.classList.toggle("tw-required", required);
    }
  };
  type.addEventListener("change", layout);
  layout();

  const submit = (side) => {
    const values = { symbol: symbol.value, side, type: type.value, quantity: quantity.value };
    for (const name of PRICE_FIELDS) if (!fields[name].wrap.hidden) values[name] = fields[name].input.value;
    values.trail_kind = trailKind.value;
    model.send({ action: "submit", form: values });
  };
  buy.addEventListener("click", () => submit("BUY"));
  sell.addEventListener("click", () => submit("SELL"));

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
  const showBusy = () => {
    buy.disabled = sell.disabled = model.get("busy");
  };
  const showPrices = () => {
    const prices = model.get("prices") || {};
    const symbols = model.get("symbols") || [];
    if (datalist.children.length !== symbols.length) {
      datalist.replaceChildren(...symbols.map((s) => Object.assign(twEl("option"), { value: s })));
    }
    for (const [s, price] of Object.entries(prices)) twLearnPrice(s, price);
    const current = symbol.value.trim().toUpperCase();
    const p = prices[current];
    last.textContent = p === undefined ? "" : `last ${twPrice(p, current)}`;
  };
  symbol.addEventListener("input", showPrices);
  showErrors();
  showBusy();
  showPrices();
  model.on("change:errors", showErrors);
  model.on("change:busy", showBusy);
  const off = twOnFlush(model, "tw-ticket", showPrices);
  return () => {
    off();
    model.off("change:errors", showErrors);
    model.off("change:busy", showBusy);
    frame.cleanup();
  };
}

export default { render };
