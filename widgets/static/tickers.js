// Tickers panel: one <tr class="tw-row" data-symbol="..."> per symbol, updated in place.
const TICKER_COLUMNS = [
  ["price", "Price"],
  ["change", "24h Δ"],
  ["change_pct", "24h %"],
  ["high", "High"],
  ["low", "Low"],
  ["volume", "Volume"],
];

function render({ model, el }) {
  const frame = twFrame(model, el, "Tickers");
  const input = twEl("input", "tw-add-symbol");
  input.placeholder = "symbol, e.g. BTCUSDT";
  input.size = 14;
  const add = twEl("button", "tw-add", "Add");
  const submit = () => {
    const symbol = input.value.trim();
    if (symbol) model.send({ action: "add", symbol });
    input.value = "";
  };
  add.addEventListener("click", submit);
  input.addEventListener("keydown", (e) => e.key === "Enter" && submit());
  frame.tools.append(input, add);

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
    tr.appendChild(twEl("td")).append(remove);
    return { tr, cells, price: null };
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
      for (const key of ["price", "high", "low"]) twLearnPrice(row.symbol, row[key]);
      const priceText = twPrice(row.price, row.symbol);
      if (cells.price.textContent !== priceText) {
        twText(cells.price, priceText);
        if (entry.price !== null && row.price !== entry.price) {
          flashes.push([cells.price, row.price > entry.price ? "tw-flash-up" : "tw-flash-down"]);
        }
      }
      entry.price = row.price;
      twText(cells.change, twSigned(row.change, 2));
      twClass(cells.change, `tw-num tw-change ${twSignClass(row.change, 2)}`);
      twText(cells.change_pct, twSigned(row.change_pct, 2, "%"));
      twClass(cells.change_pct, `tw-num tw-change-pct ${twSignClass(row.change_pct, 2)}`);
      twText(cells.high, twPrice(row.high, row.symbol));
      twText(cells.low, twPrice(row.low, row.symbol));
      twText(cells.volume, twVolume(row.volume));
    }
    twFlash(flashes);
    twPruneRows(rows, seen, empty);
  };
  draw();
  const off = twOnFlush(model, "tw-tickers", draw);
  return () => {
    off();
    frame.cleanup();
  };
}

export default { render };
