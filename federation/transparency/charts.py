"""Bar charts as inline SVG, drawn on the server: the public page needs no script, no
font and no request to anyone else to show its numbers."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext

from federation.transparency.labels import number

WIDTH = 640
BAR_HEIGHT = 22
GAP = 6
LABEL_WIDTH = 280
VALUE_WIDTH = 60
COLOUR = "#1d4f73"
# Characters of a label that fit left of the bars; a longer one is cut, whole in its tooltip.
LABEL_CHARS = 38


def bar_chart_svg(
    title: str, values: dict[str, int | float], *, show_title: bool = True
) -> SafeString:
    """A horizontal bar per entry, longest first, each labelled with its value. Every
    label is escaped: category names come from data. The drawing scales down to the
    width of the page (viewBox); its text is set by attributes, never a style."""
    items = sorted(values.items(), key=lambda item: (-item[1], item[0]))
    top = 28 if show_title else 4
    height = max(len(items), 1) * (BAR_HEIGHT + GAP) + top + 2
    largest = max((v for _, v in items), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    if show_title:
        parts.append(f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>')
    if not items:
        empty = escape(gettext("None in this period."))
        parts.append(f'<text x="0" y="{top + 14}" font-size="12">{empty}</text>')
    for index, (label, value) in enumerate(items):
        y = top + index * (BAR_HEIGHT + GAP)
        width = round(span * value / largest)
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" font-size="12" '
            f'text-anchor="end"><title>{escape(label)}</title>'
            f"{escape(Truncator(label).chars(LABEL_CHARS))}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{max(width, 1)}" height="{BAR_HEIGHT}" '
            f'fill="{COLOUR}"/>'
            f'<text x="{LABEL_WIDTH + width + 6}" y="{y + 15}" font-size="12">'
            f"{escape(number(value))}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 — every interpolated string is escaped
