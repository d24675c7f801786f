"""Inline SVG charts for the HTML page: the coverage matrix, the holes by system and the trend. Plain
strings, no script and no external asset, so the page works offline, in an iframe and in a mail."""
from __future__ import annotations

from html import escape

COLORS = {"fillable": "#2f855a", "not_writable": "#d69e2e", "unfillable": "#c53030"}


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
            f'font-size="12">{"".join(body)}</svg>')


def _text(x: float, y: float, text, anchor: str = "start", **style) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in style.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(str(text))}</text>'


def coverage_matrix(coverage: dict) -> str:
    """Cell (row a, column b): customers in both a and b; the diagonal is everyone in a. Shade is the
    share of a's customers that b also has, so a pale cell is a gap worth a look."""
    systems, cell, left, top = list(coverage["systems"]), 74, 90, 70
    body = [_text(left + i * cell + cell / 2, top - 10, s, "middle", font_weight="bold") for i, s in enumerate(systems)]
    for r, a in enumerate(systems):
        y, own = top + r * cell, coverage["systems"][a]["customers"] or 1
        body.append(_text(left - 8, y + cell / 2 + 4, a, "end", font_weight="bold"))
        for c, b in enumerate(systems):
            n, x = coverage["overlap"][a][b], left + c * cell
            shade = 0.12 + 0.78 * n / own
            body.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="#2b6cb0" '
                        f'fill-opacity="{shade:.2f}"><title>{escape(f"{n} of {a} customers are in {b}")}</title></rect>')
            body.append(_text(x + cell / 2, y + cell / 2 + 4, n, "middle", fill="#fff" if shade > 0.5 else "#1a202c"))
    side = left + len(systems) * cell + 10
    return _svg(side, top + len(systems) * cell + 10, body, "coverage matrix")


def holes_by_system(totals: dict) -> str:
    """One bar per system: its records' empty fields, split into fillable, not writable, unfillable."""
    systems, bar, left, width = list(totals), 26, 90, 520
    biggest = max([t["missing"] for t in totals.values()] + [1])
    body = [_legend(left, 14)]
    for i, system in enumerate(systems):
        y, x = 34 + i * (bar + 10), left
        body.append(_text(left - 8, y + bar / 2 + 4, system, "end", font_weight="bold"))
        for status, color in COLORS.items():
            w = width * totals[system][status] / biggest
            if w:
                body.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" fill="{color}">'
                            f'<title>{escape(f"{system}: {totals[system][status]} {status}")}</title></rect>')
            x += w
        body.append(_text(x + 6, y + bar / 2 + 4, totals[system]["missing"]))
    return _svg(left + width + 70, 44 + len(systems) * (bar + 10), body, "missing fields by system")


def _legend(x: float, y: float) -> str:
    parts = []
    for status, color in COLORS.items():
        parts.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{color}"/>')
        parts.append(_text(x + 16, y, status.replace("_", " ")))
        x += 110
    return "".join(parts)


def trend(points: list[dict], figures: tuple[str, ...]) -> str:
    """A small line per figure over the runs, oldest to newest, with the latest value at its end."""
    width, row, left, span = 640, 38, 120, 420
    body = []
    for i, name in enumerate(figures):
        y0 = 10 + i * row
        body.append(_text(left - 8, y0 + row / 2 + 4, name.replace("_", " "), "end"))
        values = [p.get(name) for p in points]
        body += _sparkline(values, left, y0 + 4, span, row - 12)
        latest = next((v for v in reversed(values) if v is not None), "n/a")
        body.append(_text(left + span + 12, y0 + row / 2 + 4, latest, font_weight="bold"))
    return _svg(width, 20 + len(figures) * row, body, "trend over runs")


def _sparkline(values: list, x0: float, y0: float, width: float, height: float) -> list[str]:
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if not known:
        return []
    low, high = min(v for _, v in known), max(v for _, v in known)
    step = width / max(len(values) - 1, 1)
    points = [(x0 + i * step, y0 + height - (height * (v - low) / (high - low) if high > low else height / 2))
              for i, v in known]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dots = [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2b6cb0"/>' for x, y in points]
    return [f'<polyline points="{line}" fill="none" stroke="#2b6cb0" stroke-width="2"/>', *dots]
