// Tickers panel: one <tr class="tw-row" data-symbol="..."> per symbol, updated in place.
// Prices and the 24h change with the symbol's precision, the 24h % with as many
// decimals as it takes not to read 0.00 when it moved, the volume with its unit.
const TICKER_COLUMNS = [
  ["price", "Price"],
  ["change", "24h Δ"],
  ["change_pct", "24h %"],
  ["high", "24h high"],
  ["low", "24h low"],
  ["volume", "24h volume"],
];

function render({ model, el }) {
  const frame = twFrame(model, el, "Tickers");
  const input = twEl("input", "tw-add-symbol");
  input.placeholder = "symbol, e.g. BTCUSDT";
  input.size = 14;
  const add = twEl("button", "tw-add", "Add");
  const addError = twEl("div", "tw-add-error");
  addError.setAttribute("role", "alert");
  const submit = () => {
    const symbol = input.value.trim();
    if (symbol) model.send({ action: "add", symbol });
    input.value = "";
  };
  add.addEventListener("click", submit);
  input.addEventListener("keydown", (e) => e.key === "Enter" && submit());
  // typing again puts the last failure away
  input.addEventListener("input", () => {
    if (model.get("add_error")) model.send({ action: "clear_add_error" });
  });
  frame.tools.append(input, add);
  frame.header.after(addError);

  const table = twEl("table", "tw-table");
  const head = twEl("tr");
  head.append(twEl("th", "tw-text", "Symbol"));
  for (const [, label] of TICKER_COLUMNS) head.append(twEl("th", "", label));
  head.append(twEl("th"));
  table.appendChild(twEl("thead")).append(head);
  const tbody = table.appendChild(twEl("tbody"));
  const empty = twEl("div", "tw-empty", "No symbols: add one above.");
  frame.body.append(table, empty);

  const rows = new Map(); // symbol -> {tr, cells, price}
  const makeRow = (symbol) => {
    const tr = twEl("tr", "tw-row");
    tr.dataset.symbol = symbol;
    tr.append(twEl("td", "tw-symbol tw-text", symbol));
    const cells = {};
    for (const [key] of TICKER_COLUMNS) {
      cells[key] = tr.appendChild(twEl("td", `tw-num tw-${key.replace("_", "-")}`));
    }
    const remove = twEl("button", "tw-remove", "×");
    remove.title = `Remove ${symbol}`;
    remove.addEventListener("click", () => model.send({ action: "remove", symbol }));
    tr.appendChild(twEl("td", "tw-action")).append(remove);
    return { tr, cells, price: null };
  };

  const showAddError = () => {
    const text = model.get("add_error") || "";
    twText(addError, text);
    addError.hidden = !text;
  };

  const draw = () => {
    const data = model.get("rows") || [];
    const seen = new Set();
    const flashes = [];
    for (const row of data) {
      seen.add(row.symbol);
      let entry = rows.get(row.symbol);
      if (!entry) {
        entry = makeRow(row.symbol);
        rows.set(row.symbol, entry);
        tbody.append(entry.tr);
      }
      const { cells } = entry;
      if (Number.isInteger(row.price_precision)) twSetPrecision(row.symbol, row.price_precision);
      for (const key of ["price", "high", "low"]) twLearnPrice(row.symbol, row[key]);
      const priceText = twPrice(row.price, row.symbol);
      if (cells.price.textContent !== priceText) {
        twText(cells.price, priceText);
        if (entry.price !== null && row.price !== entry.price) {
          flashes.push([cells.price, row.price > entry.price ? "tw-flash-up" : "tw-flash-down"]);
        }
      }
      entry.price = row.price;
      const digits = twPriceDigits(row.change, row.symbol);
      twText(cells.change, twSigned(row.change, digits));
      twClass(cells.change, `tw-num tw-change ${twSignClass(row.change, digits)}`);
      const pctDigits = twPctDigits(row.change_pct);
      twText(cells.change_pct, twSigned(row.change_pct, pctDigits, "%"));
      twClass(cells.change_pct, `tw-num tw-change-pct ${twSignClass(row.change_pct, pctDigits)}`);
      twText(cells.high, twPrice(row.high, row.symbol));
      twText(cells.low, twPrice(row.low, row.symbol));
      const unit = row.base_asset ? ` ${row.base_asset}` : "";
      twText(cells.volume, twMissing(row.volume) ? "–" : `${twVolume(row.volume)}${unit}`);
      cells.volume.title = twMissing(row.quote_volume) ? "" : `${twVolume(row.quote_volume)} ${row.quote_asset || ""}`.trim();
    }
    twFlash(flashes);
    twPruneRows(rows, seen, empty);
    showAddError();
  };
  draw();
  const off = twOnFlush(model, "tw-tickers", draw);
  model.on("change:add_error", showAddError);
  return () => {
    off();
    model.off("change:add_error", showAddError);
    frame.cleanup();
  };
}

export default { render };
