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


def render_all(report: dict) -> dict[str, str]:
    """{file name: CSV text} for every list, header included even when the list is empty."""
    return {f"{name}.csv": render(report, name) for name in LISTS}


def render(report: dict, name: str) -> str:
    rows, columns = LISTS[name]
    out = io.StringIO()
    # Rows as lists, not DictWriter's dicts: the coverage list has a row per customer and missing system.
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([cell(row.get(k)) for k in columns] for row in rows(report))
    return out.getvalue()


def cell(value) -> str:
    """A value as one cell of text: lists and objects as compact JSON, nothing as empty."""
    if value.__class__ is str:
        return value
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)
