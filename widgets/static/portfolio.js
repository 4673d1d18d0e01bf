// Portfolio panel: .tw-stat[data-field=...] boxes and an SVG equity sparkline.
const PORTFOLIO_STATS = [
  ["balance", "Balance", false],
  ["equity", "Equity", false],
  ["realized_pnl", "Realized P&L", true],
  ["unrealized_pnl", "Unrealized P&L", true],
  ["total_pnl", "Total P&L", true],
  ["positions_count", "Positions", false],
];
const SVG_NS = "http://www.w3.org/2000/svg";

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
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", "tw-sparkline");
  svg.setAttribute("viewBox", "0 0 200 40");
  svg.setAttribute("preserveAspectRatio", "none");
  const line = document.createElementNS(SVG_NS, "polyline");
  line.setAttribute("fill", "none");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(line);
  frame.body.append(grid, svg);

  const draw = () => {
    const v = model.get("values") || {};
    for (const [field, , signed] of PORTFOLIO_STATS) {
      const value = v[field];
      if (field === "positions_count") values[field].textContent = twMissing(value) ? "–" : String(value);
      else values[field].textContent = signed ? twSigned(value, 2) : twFmt(value, 2);
      if (signed) values[field].className = `tw-value tw-num ${twSignClass(value)}`;
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
