"""The self-contained HTML page of a report: inline CSS and SVG charts, no script, no external asset.
Rendered from the report as given: pass a masked report unless PII is to be shown."""
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from canonical.report import charts
from canonical.report.csv_files import LISTS, cell, rows_of
from canonical.report.freshness import TREND_FIGURES

ROWS_SHOWN = 25  # a page to read; the CSV holds every row


def render(report: dict, rows: dict[str, list[dict]] | None = None) -> str:
    """`rows` is csv_files.rows_of(report) when the caller has it already."""
    template = _environment().get_template("report.html.j2")
    return template.render(r=report, rows=rows_of(report) if rows is None else rows,
                           columns={name: columns for name, (_, columns) in LISTS.items()}, limit=ROWS_SHOWN,
                           biggest_gaps=_biggest_gaps(report), charts=_charts(report))


def _charts(report: dict) -> dict[str, str]:
    return {"coverage": charts.coverage_matrix(report["coverage"]),
            "holes": charts.holes_by_system(report["missing_fields"]["totals"]),
            "trend": charts.trend(report["trend"], TREND_FIGURES)}


def _biggest_gaps(report: dict, count: int = 8) -> list[dict]:
    gaps = [g for g in report["coverage"]["gaps"] if g["customers"]]
    return sorted(gaps, key=lambda g: -g["customers"])[:count]


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["cell"] = cell
    env.filters["age"] = _age
    env.filters["plural"] = lambda kind: f"with {kind.replace('_', ' ')}s"
    return env


def _age(seconds) -> str:
    if seconds is None:
        return "n/a"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds} s"
