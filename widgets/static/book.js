// Order book panel: a ladder of fixed rows (asks above, best ask lowest; the spread and
// the last price; bids below, best bid highest), each row price | size | total with the
// total drawn as a depth bar.  Rows are built once per depth and updated in place
// (text and one CSS width each), so a live book never flickers.  Clicking a row's
// price sends it to the kernel, which puts it into the order ticket.

// The rows of one side, best price next to the spread: asks are shown reversed
function twLadder(levels, depth, reverse) {
  const rows = [];
  for (let i = 0; i < depth; i++) rows.push(levels[i] || null);
  return reverse ? rows.reverse() : rows;
}

function render({ model, el }) {
  const frame = twFrame(model, el, "Order book");
  const title = frame.header.querySelector(".tw-title");
  const symbolTag = twEl("span", "tw-book-symbol");
  title.after(symbolTag);
  const head = twEl("div", "tw-book-row tw-book-head");
  const headPrice = head.appendChild(twEl("span", "tw-book-price", "Price"));
  const headSize = head.appendChild(twEl("span", "tw-book-size", "Size"));
  const headTotal = head.appendChild(twEl("span", "tw-book-total", "Total"));
  const asksBox = twEl("div", "tw-book-side tw-asks");
  const middle = twEl("div", "tw-book-mid");
  const last = middle.appendChild(twEl("span", "tw-book-last tw-num"));
  const spread = middle.appendChild(twEl("span", "tw-book-spread tw-num"));
  const bidsBox = twEl("div", "tw-book-side tw-bids");
  const note = twEl("div", "tw-book-note");
  frame.body.append(head, asksBox, middle, bidsBox, note);

  let depth = 0;
  let askRows = [];
  let bidRows = [];
  const makeRow = (side) => {
    const row = twEl("div", `tw-book-row tw-book-level tw-${side}-level`);
    const price = row.appendChild(twEl("span", "tw-book-price tw-num"));
    const size = row.appendChild(twEl("span", "tw-book-size tw-num"));
    const total = row.appendChild(twEl("span", "tw-book-total tw-num"));
    price.title = "Use this price in the order ticket";
    price.addEventListener("click", () => {
      const value = Number(row.dataset.price);
      if (value > 0) model.send({ action: "pick", price: value, side });
    });
    return { row, price, size, total };
  };
  const build = (n) => {
    depth = n;
    askRows = Array.from({ length: n }, () => makeRow("ask"));
    bidRows = Array.from({ length: n }, () => makeRow("bid"));
    asksBox.replaceChildren(...askRows.map((r) => r.row));
    bidsBox.replaceChildren(...bidRows.map((r) => r.row));
  };

  // sizes with the lot step's decimals line up in their column (0.25580, not 0.2558)
  const qty = (value) => {
    const digits = model.get("qty_digits");
    return Number.isInteger(digits) && digits >= 0 ? twFmt(value, digits) : twQty(value);
  };
  const fill = (cells, level, maxCum, symbol) => {
    if (!level) {
      twText(cells.price, "");
      twText(cells.size, "");
      twText(cells.total, "");
      cells.row.style.setProperty("--tw-depth", "0%");
      cells.row.dataset.price = "";
      cells.row.classList.add("tw-empty-level");
      return;
    }
    cells.row.classList.remove("tw-empty-level");
    const priceText = twPrice(level.price, symbol);
    twText(cells.price, priceText);
    cells.row.dataset.price = String(level.price);
    twText(cells.size, level.qty > 0 ? qty(level.qty) : "–");
    twText(cells.total, level.cum > 0 ? qty(level.cum) : "–");
    const width = maxCum > 0 ? `${((100 * level.cum) / maxCum).toFixed(1)}%` : "0%";
    if (cells.row.style.getPropertyValue("--tw-depth") !== width) cells.row.style.setProperty("--tw-depth", width);
  };

  const draw = () => {
    const book = model.get("book") || {};
    const symbol = model.get("symbol");
    const [base, quote] = model.get("assets") || ["", ""];
    twText(symbolTag, symbol);
    twText(headPrice, quote ? `Price (${quote})` : "Price");
    twText(headSize, base ? `Size (${base})` : "Size");
    twText(headTotal, base ? `Total (${base})` : "Total");
    const n = model.get("depth") || 10;
    if (n !== depth) build(n);
    for (const level of [...(book.bids || []).slice(0, 1), ...(book.asks || []).slice(0, 1)]) twLearnPrice(symbol, level.price);
    const asks = twLadder(book.asks || [], n, true);
    const bids = twLadder(book.bids || [], n, false);
    asks.forEach((level, i) => fill(askRows[i], level, book.max_cum, symbol));
    bids.forEach((level, i) => fill(bidRows[i], level, book.max_cum, symbol));
    twText(last, twMissing(book.last) ? "–" : `${twPrice(book.last, symbol)} ${book.direction > 0 ? "↑" : book.direction < 0 ? "↓" : ""}`.trim());
    twClass(last, `tw-book-last tw-num ${book.direction > 0 ? "tw-pos" : book.direction < 0 ? "tw-neg" : ""}`);
    const spreadText = twMissing(book.spread)
      ? ""
      : `spread ${twPrice(book.spread, symbol)}${twMissing(book.spread_pct) ? "" : ` (${twFmt(book.spread_pct, twPctDigits(book.spread_pct))}%)`}`;
    twText(spread, spreadText);
    const text = model.get("note") || (book.source === "ticker" ? "Best bid and ask only (no depth from this engine)." : "");
    twText(note, text);
    note.hidden = !text;
    frame.root.dataset.levels = String((book.bids || []).length + (book.asks || []).length);
  };
  draw();
  const off = twOnFlush(model, "tw-book", draw);
  model.on("change:note", draw);
  model.on("change:depth", draw);
  model.on("change:qty_digits", draw);
  return () => {
    off();
    model.off("change:note", draw);
    model.off("change:depth", draw);
    model.off("change:qty_digits", draw);
    frame.cleanup();
  };
}

export default { render };
