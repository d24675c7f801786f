"""One CSV per actionable list of a report, each row naming a record someone can open (system and id).
Rendered from the report as given: pass a masked report unless PII is to be shown."""
from __future__ import annotations

import csv
import io
import json

from canonical.report.conflicts import conflict_rows
from canonical.report.coverage import gap_rows
from canonical.report.duplicates import duplicate_rows
from canonical.report.missing import missing_rows
from canonical.report.orphans import orphan_rows
from canonical.report.problems import failed_write_rows, quarantine_rows

# list name -> (row builder, columns); the name is the file's stem.
LISTS = {
    "coverage_gaps": (gap_rows, ("customer_id", "present", "present_source_ids", "active_in_present", "missing",
                                      "also_in")),
    "missing_fields": (missing_rows, ("system", "source_id", "customer_id", "field", "status", "value", "known_by")),
    "conflicts": (conflict_rows, ("customer_id", "field", "rule", "conflicting_edits", "winner_system", "winner_source_id", "winner_value",
                                  "other_system", "other_source_id", "other_value")),
    "duplicates": (duplicate_rows, ("system", "customer_id", "source_id", "records_in_group")),
    "orphans": (orphan_rows, ("system", "kind", "source_id", "customer_ref", "occurred_at", "reason")),
    "quarantine": (quarantine_rows, ("system", "source_id", "reason", "first_seen_run", "first_seen_at")),
    "failed_writes": (failed_write_rows, ("system", "source_id", "customer_id", "field", "outcome", "reason")),
}


def rows_of(report: dict) -> dict[str, list[dict]]:
    """{list name: its rows}: built once and shared by the CSV files and the HTML page."""
    return {name: build(report) for name, (build, _) in LISTS.items()}


def render_all(report: dict, rows: dict[str, list[dict]] | None = None) -> dict[str, str]:
    """{file name: CSV text} for every list, header included even when the list is empty. `rows` is
    rows_of(report) when the caller has it already."""
    rows = rows_of(report) if rows is None else rows
    return {f"{name}.csv": _text(rows[name], columns) for name, (_, columns) in LISTS.items()}


def render(report: dict, name: str) -> str:
    build, columns = LISTS[name]
    return _text(build(report), columns)


def _text(rows: list[dict], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(_cells(rows, columns))
    return out.getvalue()


# Types the csv module writes exactly as cell() does: None as empty, the others as str() (repr() for a
# float, the same text). Only a column holding anything else goes through cell(): calling it on every
# value was most of the CSV files' time.
_WRITTEN_AS_CELL = frozenset({str, int, float, bool, type(None)})


def _cells(rows: list[dict], columns: tuple[str, ...]) -> list[list]:
    # Rows as lists, not DictWriter's dicts: the coverage list has a row per customer and missing system.
    table = [list(map(row.get, columns)) for row in rows]
    for i in range(len(columns)):
        if not _WRITTEN_AS_CELL.issuperset({values[i].__class__ for values in table}):
            for values in table:
                values[i] = cell(values[i])
    return table


# What json.dumps(value, ensure_ascii=False, sort_keys=True) uses, made once rather than per value.
_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def cell(value) -> str:
    """A value as one cell of text: lists and objects as compact JSON, nothing as empty."""
    if value.__class__ is str:
        return value
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return _JSON.encode(value)
    return str(value)
