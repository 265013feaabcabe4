"""A bar chart of billed and paid amounts per month, drawn as SVG on the server.

No charting library and no JavaScript: the page embeds the SVG markup. The
`viewBox` lets it scale to a phone's width.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from .claims import ClaimRow, format_money

MAX_MONTHS = 24  # the most recent months that have claims
HEIGHT, TOP, BOTTOM, LEFT = 260, 16, 52, 64
MIN_WIDTH = 640  # few months get wider bars rather than a narrow chart
BILLED_COLOR, PAID_COLOR = "#7a8ca8", "#1f8a5b"


@dataclass(frozen=True)
class Month:
    month: str  # "YYYY-MM"
    billed: Decimal
    paid: Decimal
    claims: int


def monthly_totals(rows: list[ClaimRow]) -> list[Month]:
    """Sum per calendar month of service, oldest first; undated claims are left out."""
    billed: dict[str, Decimal] = defaultdict(Decimal)
    paid: dict[str, Decimal] = defaultdict(Decimal)
    count: dict[str, int] = defaultdict(int)
    for row in rows:
        if row.date is None:
            continue
        key = f"{row.date:%Y-%m}"
        billed[key] += row.billed or 0
        paid[key] += row.paid or 0
        count[key] += 1
    return [Month(m, billed[m], paid[m], count[m]) for m in sorted(count)]


def _short(amount: Decimal) -> str:
    """Axis labels: $950, $12k, $1.2M."""
    for limit, suffix in ((Decimal(1_000_000), "M"), (Decimal(1_000), "k")):
        if amount >= limit:
            value = amount / limit
            return f"${value:.1f}{suffix}" if value < 10 else f"${value:.0f}{suffix}"
    return f"${amount:.0f}"


def bar_chart_svg(months: list[Month]) -> str:
    """Grouped bars (billed, paid) per month with a labelled y axis."""
    months = months[-MAX_MONTHS:]
    if not months:
        return '<p class="muted">No dated claims to chart.</p>'
    top = max(max(m.billed, m.paid) for m in months) or Decimal(1)
    plot_height = HEIGHT - TOP - BOTTOM
    slot = max(34, (MIN_WIDTH - LEFT) // len(months))  # one month: two bars and a gap
    bar = min(slot * 3 // 8, 28)
    width = LEFT + len(months) * slot

    def y(value: Decimal) -> float:
        return TOP + plot_height - float(value / top) * plot_height

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg">',
        '<title id="chart-title">Billed and paid per month</title>',
    ]
    for step in range(5):  # gridlines at 0, 25, 50, 75, 100 % of the largest bar
        value = top * step / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{width}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="#ddd"/><text x="{LEFT - 6}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end" font-size="13">{_short(value)}</text>'
        )
    for index, month in enumerate(months):
        x = LEFT + index * slot + (slot - 2 * bar) // 2
        for offset, (label, value, color) in enumerate(
            (("billed", month.billed, BILLED_COLOR), ("paid", month.paid, PAID_COLOR))
        ):
            tooltip = escape(f"{month.month} {label} {format_money(value)}")
            parts.append(
                f'<rect class="bar {label}" x="{x + offset * bar}" y="{y(value):.1f}" '
                f'width="{bar - 1}" height="{y(Decimal(0)) - y(value):.1f}" fill="{color}">'
                f"<title>{tooltip}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar}" y="{HEIGHT - BOTTOM + 14}" font-size="12" '
            f'text-anchor="end" transform="rotate(-45 {x + bar} {HEIGHT - BOTTOM + 14})">'
            f"{escape(month.month)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
