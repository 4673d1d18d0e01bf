// Portfolio panel: .tw-stat[data-field=...] boxes, the sum the total is
// ("−3.91 realized + 0.00 unrealized − 12.99 fees"), the wallet's assets (folded) and
// an SVG equity sparkline.  Money carries its unit.
const PORTFOLIO_STATS = [
  ["equity", "Equity", "money"],
  ["available", "Available", "money"],
  ["balance", "Cash", "money"],
  ["locked", "Locked in orders", "money"],
  ["realized_pnl", "Realized P&L", "signed"],
  ["unrealized_pnl", "Unrealized P&L", "signed"],
  ["fees_paid", "Fees paid", "fee"],
  ["total_pnl", "Total P&L", "signed"],
  ["positions_count", "Positions", "count"],
];
const SVG_NS = "http://www.w3.org/2000/svg";

// "−3.91 realized + 0.00 unrealized − 12.99 fees = −16.90 USDT"
function twPnlSum(v) {
  if ([v.realized_pnl, v.unrealized_pnl, v.fees_paid, v.total_pnl].some(twMissing)) return "";
  const term = (value, word, first) => {
    const sign = value < 0 && !twRoundsToZero(value) ? "−" : first ? "" : "+";
    const text = twFmt(Math.abs(value), 2);
    return first ? `${sign}${text} ${word}` : `${sign} ${text} ${word}`;
  };
  const fees = `− ${twFmt(Math.abs(v.fees_paid), 2)} fees`;
  const total = `${v.total_pnl < 0 && !twRoundsToZero(v.total_pnl) ? "−" : ""}${twFmt(Math.abs(v.total_pnl), 2)}`;
  return `${term(v.realized_pnl, "realized", true)} ${term(v.unrealized_pnl, "unrealized", false)} ${fees} = ${total} ${v.quote || ""}`.trim();
}

function render({ model, el }) {
  const frame = twFrame(model, el, "Portfolio");
  const grid = twEl("div", "tw-stats");
  const values = {};
  for (const [field, label] of PORTFOLIO_STATS) {
    const box = twEl("div", "tw-stat");
    box.dataset.field = field;
    box.append(twEl("div", "tw-label", label));
    values[field] = box.appendChild(twEl("div", "tw-value tw-num", "–"));
    grid.append(box);
  }
  // what open orders hold of the other assets (a sell holds what it sells): the box
  // itself is in the quote currency, and read "0.00 USDT" beside a locked BTC
  const lockedAssets = twEl("div", "tw-sub tw-locked-assets");
  values.locked.parentElement.append(lockedAssets);
  const sum = twEl("div", "tw-pnl-sum");
  const wallet = twEl("details", "tw-wallet");
  wallet.append(twEl("summary", "", "Balances"));
  const walletTable = wallet.appendChild(twEl("table", "tw-table tw-balances"));
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", "tw-sparkline");
  svg.setAttribute("viewBox", "0 0 200 40");
  svg.setAttribute("preserveAspectRatio", "none");
  const line = document.createElementNS(SVG_NS, "polyline");
  line.setAttribute("fill", "none");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(line);
  frame.body.append(grid, sum, wallet, svg);
  let walletKey = "";

  const draw = () => {
    const v = model.get("values") || {};
    const unit = v.quote || "USDT";
    for (const [field, , kind] of PORTFOLIO_STATS) {
      const value = v[field];
      const box = values[field].parentElement;
      if (kind === "count") twText(values[field], twMissing(value) ? "–" : String(value));
      else if (kind === "signed") twText(values[field], twMissing(value) ? "–" : `${twSigned(value, 2)} ${unit}`);
      else if (kind === "fee") twText(values[field], twMissing(value) ? "–" : `${twFmt(value, 2)} ${unit}`);
      else twText(values[field], twMissing(value) ? "–" : `${twFmt(value, 2)} ${unit}`);
      if (kind === "signed") twClass(values[field], `tw-value tw-num ${twSignClass(value, 2)}`);
      // a version-1 engine has no wallet: its boxes stay out instead of showing dashes
      if (field === "available" || field === "locked" || field === "fees_paid") box.hidden = twMissing(value);
      // the cash balance says what "available" says, for an engine without a wallet
      if (field === "balance") box.hidden = !twMissing(v.available);
    }
    const text = twPnlSum(v);
    twText(sum, text ? `Total = ${text}` : "");
    sum.hidden = !text;
    twClass(sum, `tw-pnl-sum${v.adds_up === false ? " tw-mismatch" : ""}`);
    sum.title = v.adds_up === false ? "These figures do not add up: the engine's total differs from the sum." : "";
    const balances = model.get("balances") || {};
    const assets = Object.keys(balances);
    const held = assets.filter((a) => a !== unit && balances[a].locked > 0).map((a) => `${twQty(balances[a].locked)} ${a}`);
    const heldKey = held.join("|");
    if (lockedAssets.dataset.key !== heldKey) {
      // one unbreakable piece per asset: a line may end between two, never inside one
      lockedAssets.dataset.key = heldKey;
      lockedAssets.replaceChildren(...held.flatMap((item, i) => [i ? " · " : "+ ", twEl("span", "tw-nowrap", item)]));
    }
    lockedAssets.hidden = held.length === 0;
    lockedAssets.title = held.length ? `Also held back by open orders: ${held.join(", ")}` : "";
    wallet.hidden = assets.length === 0;
    const key = JSON.stringify(balances);
    if (key !== walletKey) {
      walletKey = key;
      const head = twEl("tr");
      head.append(twEl("th", "tw-text", "Asset"), twEl("th", "", "Free"), twEl("th", "", "Locked"));
      walletTable.replaceChildren(
        head,
        ...assets.map((asset) => {
          const tr = twEl("tr", "tw-balance");
          tr.dataset.asset = asset;
          const b = balances[asset];
          const fmt = (x) => (asset === unit ? twFmt(x, 2) : twQty(x));
          tr.append(twEl("td", "tw-text", asset), twEl("td", "tw-num", fmt(b.free)), twEl("td", "tw-num", fmt(b.locked)));
          return tr;
        }),
      );
    }
    const equity = model.get("equity") || [];
    if (equity.length > 1) {
      const lo = Math.min(...equity);
      const hi = Math.max(...equity);
      const span = hi - lo || 1;
      const step = 200 / (equity.length - 1);
      line.setAttribute(
        "points",
        equity.map((y, i) => `${(i * step).toFixed(1)},${(38 - ((y - lo) / span) * 36).toFixed(1)}`).join(" "),
      );
      const last = equity[equity.length - 1];
      svg.setAttribute("class", `tw-sparkline ${last >= equity[0] ? "tw-up" : "tw-down"}`);
    }
  };
  draw();
  const off = twOnFlush(model, "tw-portfolio", draw);
  return () => {
    off();
    frame.cleanup();
  };
}

export default { render };
