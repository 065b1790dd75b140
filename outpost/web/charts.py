"""Server-rendered SVG pictures for the compliance page (no script, no external file; the CSP allows them
inline). Every text is escaped; every figure is also written out in words beside the bar."""

from __future__ import annotations

from html import escape
from typing import Any

TARGET = 30_000_000  # at least 30,000,000 yuan a year per office
QUOTA = 4  # at least 4 valuable items a month


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
            f'viewBox="0 0 {width} {height}" width="100%" class="chart">' + "".join(body) + "</svg>")


def _name(row: dict[str, Any]) -> str:
    return escape(str(row.get("office_name") or row["office"]))


def investment(rows: list[dict[str, Any]], label: str) -> str:
    """One bar per office, its name above it: the year's total against the target (a line at 30,000,000)."""
    width, bar_h, row_h = 360, 20, 64
    scale_top = max([TARGET, *(int(r["investment_total"]) for r in rows)]) * 1.1
    span = width - 10
    height = len(rows) * row_h + 8
    body = []
    for i, r in enumerate(rows):
        y = 4 + i * row_h
        total = int(r["investment_total"])
        w = max(1.0, span * total / scale_top)
        colour = "#2e7d32" if total >= TARGET else "#c62828"
        body.append(f'<text x="0" y="{y + 13}" font-size="13">{_name(r)}</text>')
        body.append(f'<rect x="0" y="{y + 20}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>')
        body.append(f'<text x="2" y="{y + 20 + bar_h + 13}" font-size="11" fill="#333">'
                    f'{total / 10_000:,.0f} 万 / {TARGET / 10_000:,.0f} 万 ({100 * total / TARGET:.0f}%)</text>')
    x = span * TARGET / scale_top
    body.append(f'<line x1="{x:.1f}" y1="18" x2="{x:.1f}" y2="{height - 4}" stroke="#333" stroke-dasharray="4 3"/>')
    return _svg(width, height, body, label)


def reports(rows: list[dict[str, Any]], label: str, words: dict[str, str]) -> str:
    """Per office, its name above: one square per report or statement due in the year, green on time, red
    late, grey not due; an office with none due yet says so."""
    width, size, gap, row_h = 360, 18, 4, 46
    colours = {"on_time": "#2e7d32", "late": "#c62828", "missing": "#c62828", "pending": "#bdbdbd"}
    height = len(rows) * row_h + 28
    body = []
    for i, r in enumerate(rows):
        y = 4 + i * row_h
        body.append(f'<text x="0" y="{y + 13}" font-size="13">{_name(r)}</text>')
        items = [*r.get("reports", []), *r.get("fin_statements", [])]
        if not items:
            body.append(f'<text x="0" y="{y + 33}" font-size="11" fill="#666">{escape(words.get("none", ""))}</text>')
        for j, item in enumerate(items):
            status = str(item.get("status") or ("late" if item.get("late") else "on_time"))
            body.append(f'<rect x="{j * (size + gap)}" y="{y + 20}" width="{size}" height="{size}" '
                        f'fill="{colours.get(status, "#bdbdbd")}"><title>{escape(str(item.get("period")))} '
                        f'{escape(words.get(status, status))}</title></rect>')
    y = height - 8
    for k, (status, colour) in enumerate((("on_time", "#2e7d32"), ("late", "#c62828"), ("pending", "#bdbdbd"))):
        body.append(f'<rect x="{k * 80}" y="{y - 10}" width="10" height="10" fill="{colour}"/>'
                    f'<text x="{k * 80 + 14}" y="{y}" font-size="11">{escape(words.get(status, status))}</text>')
    return _svg(width, height, body, label)


def info_months(row: dict[str, Any], label: str) -> str:
    """One office's year: accepted items per month, against the quota line at 4."""
    months = row.get("info_months", [])
    width, height, left, bottom = 360, 130, 24, 20
    top_value = max([QUOTA + 2, *(int(m.get("accepted", 0)) for m in months)])
    plot_h = height - bottom - 8
    step = (width - left) / 12
    body = []
    for m in months:
        try:
            month = int(str(m["month"])[-2:])
        except (KeyError, ValueError):
            continue
        accepted = int(m.get("accepted", 0))
        h = plot_h * accepted / top_value
        x = left + (month - 1) * step + 3
        colour = "#2e7d32" if accepted >= QUOTA else "#c62828"
        body.append(f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{step - 6:.1f}" height="{h:.1f}" '
                    f'fill="{colour}"><title>{escape(str(m["month"]))}: {accepted}</title></rect>')
        body.append(f'<text x="{x + 2:.1f}" y="{height - bottom - h - 2:.1f}" font-size="9">{accepted}</text>')
    for month in range(1, 13):
        body.append(f'<text x="{left + (month - 1) * step + 4:.1f}" y="{height - 6}" font-size="9">{month}</text>')
    y = height - bottom - plot_h * QUOTA / top_value
    body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width}" y2="{y:.1f}" stroke="#333" stroke-dasharray="4 3"/>'
                f'<text x="0" y="{y + 3:.1f}" font-size="10">{QUOTA}</text>')
    return _svg(width, height, body, label)
