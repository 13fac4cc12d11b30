"""A matplotlib figure as an `<svg>` element to inline in a console page: no prolog, no
metadata, matplotlib's default style scoped to the chart (it would otherwise apply to the whole
page), sized by CSS, and labelled for assistive technology by a `<title>`. The caller holds
`RENDER_LOCK` (matplotlib is not thread-safe) and its rc context while this prints."""

from __future__ import annotations

import io
import re
from typing import Any
from xml.sax.saxutils import escape

from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

SVG_METADATA: dict[str, Any] = {"Date": None, "Creator": None, "Format": None, "Type": None}
ROOT_SIZE = re.compile(r'width="[0-9.]+pt" height="[0-9.]+pt"')


def inline_svg(figure: Figure, *, dom_id: str, title: str) -> str:
    buffer = io.StringIO()
    FigureCanvasSVG(figure).print_svg(buffer, metadata=SVG_METADATA)
    text = buffer.getvalue()
    svg = text[text.index("<svg") :]
    svg = svg.replace("*{stroke-linejoin", f"#{dom_id} *{{stroke-linejoin", 1)
    root = (
        f'id="{dom_id}" role="img" aria-labelledby="{dom_id}-title"'
        ' style="max-width:100%;height:auto"'
    )
    svg = ROOT_SIZE.sub(root, svg, count=1)
    head = svg.index(">") + 1
    label = f'\n <title id="{dom_id}-title">{escape(title)}</title>'
    return svg[:head] + label + svg[head:]
