"""Bar charts as inline SVG, drawn on the server: the public page needs no script, no
font and no request to anyone else to show its numbers."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 640
BAR_HEIGHT = 22
GAP = 6
LABEL_WIDTH = 260
VALUE_WIDTH = 60
COLOUR = "#2f6690"


def bar_chart_svg(title: str, values: dict[str, int | float]) -> SafeString:
    """A horizontal bar per entry, longest first, each labelled with its value. Every
    label is escaped: category names come from data."""
    items = sorted(values.items(), key=lambda item: (-item[1], item[0]))
    height = max(len(items), 1) * (BAR_HEIGHT + GAP) + 30
    largest = max((v for _, v in items), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    if not items:
        parts.append('<text x="0" y="42" font-size="12">none in this period</text>')
    for index, (label, value) in enumerate(items):
        y = 28 + index * (BAR_HEIGHT + GAP)
        width = round(span * value / largest)
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" font-size="12" '
            f'text-anchor="end">{escape(label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{max(width, 1)}" height="{BAR_HEIGHT}" '
            f'fill="{COLOUR}"/>'
            f'<text x="{LABEL_WIDTH + width + 6}" y="{y + 15}" font-size="12">{value}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 — every interpolated string is escaped
