"""A plotly figure that follows JupyterLab's theme (``tw-figure``).

JupyterLab's plotly renderer draws every figure with plotly's light template: in the
dark theme it stays a white box.  ``ThemedFigure(fig)`` shows the same figure (its
data and layout, as plotly's JSON) through plotly.js in the page, with the theme's
colours for the background, text, grid and axes, and redraws them when the user
switches themes.  The traces keep their own colours::

    from widgets import ThemedFigure
    ThemedFigure(fig)          # instead of `fig` as a cell's last line
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import anywidget
import plotly
import traitlets

from widgets.assets import panel_css, panel_esm


@cache
def figure_esm() -> str:
    plotly_js = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(
        encoding="utf-8"
    )
    # plotly.min.js is UMD: given a CommonJS-looking `module` it returns Plotly through
    # it instead of only setting a global, so the ESM gets its own reference
    return (
        "const module = { exports: {} };\n"
        f"{plotly_js}\n"
        "const Plotly = module.exports;\n"
        f"{panel_esm('figure')}"
    )


class ThemedFigure(anywidget.AnyWidget):
    _esm = figure_esm()
    _css = panel_css("figure")

    figure = traitlets.Dict().tag(sync=True)
    """``{"data": [...], "layout": {...}}``: plotly's JSON of the figure."""

    def __init__(self, figure: Any, **kwargs: Any) -> None:
        """``figure``: a plotly ``Figure`` (or anything with ``to_json()``), or its JSON
        as a dict."""
        if hasattr(figure, "to_json"):
            spec = json.loads(figure.to_json())  # numpy, pandas and dates as plotly writes them
        elif isinstance(figure, dict):
            spec = dict(figure)
        else:
            raise TypeError(f"ThemedFigure needs a plotly figure or its JSON, got {type(figure)}")
        super().__init__(figure=spec, **kwargs)
