// A plotly figure in JupyterLab's colours: the kernel's figure JSON without plotly's
// light template, with the theme's background, text, grid and axis colours, which are
// read again when the user switches themes (JupyterLab swaps CSS variables on :root).
const AXIS = /^[xy]axis\d*$/;

function twThemed(layout, colors) {
  const out = { ...layout };
  delete out.template; // its white paper and grey grid are what stayed light
  out.paper_bgcolor = "rgba(0,0,0,0)";
  out.plot_bgcolor = "rgba(0,0,0,0)";
  out.font = { ...(layout.font || {}), color: colors.text, family: colors.family };
  out.legend = { ...(layout.legend || {}), bgcolor: "rgba(0,0,0,0)" };
  for (const key of Object.keys(layout)) {
    if (!AXIS.test(key)) continue;
    out[key] = { ...layout[key], gridcolor: colors.grid, linecolor: colors.line, zerolinecolor: colors.line };
  }
  for (const key of ["xaxis", "yaxis"]) {
    if (!out[key]) out[key] = { gridcolor: colors.grid, linecolor: colors.line, zerolinecolor: colors.line };
  }
  // subplot titles are annotations: the theme's text colour unless they chose one
  out.annotations = (layout.annotations || []).map((a) => ({
    ...a,
    font: { ...(a.font || {}), color: (a.font && a.font.color) || colors.text },
  }));
  return out;
}

function render({ model, el }) {
  const root = twEl("div", "tw-figure");
  const plot = twEl("div", "tw-figure-plot");
  root.append(plot);
  el.append(root);
  const css = (name, fallback) =>
    getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
  const colors = () => ({
    text: css("--jp-ui-font-color1", "#222"),
    grid: css("--jp-border-color2", "#e0e0e0"),
    line: css("--jp-border-color1", "#bdbdbd"),
    family: css("--jp-ui-font-family", "sans-serif"),
  });
  let ready = Promise.resolve();
  const draw = () => {
    const figure = model.get("figure") || {};
    ready = ready
      .then(() =>
        Plotly.react(plot, figure.data || [], twThemed(figure.layout || {}, colors()), {
          displaylogo: false,
          responsive: true,
        }),
      )
      .then(() => {
        root.dataset.theme = document.body.dataset.jpThemeLight === "false" ? "dark" : "light";
      })
      .catch((err) => console.error("tw-figure", err));
  };
  draw();
  const watcher = new MutationObserver(draw);
  watcher.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-name", "data-jp-theme-light"] });
  model.on("change:figure", draw);
  return () => {
    watcher.disconnect();
    model.off("change:figure", draw);
    Plotly.purge(plot);
  };
}

export default { render };
