"""Extract: reads one system from its saved cursor and lands the raw pages. Moves no cursor: the load
stage does that in the same transaction as the records, so a crash in between re-reads, never skips."""
from __future__ import annotations

from adapters import registry
from canonical import landing, progress
from canonical.store import Cursor, session


def extract(system: str, run_id: str) -> dict:
    cursor = _saved_cursor(system)
    adapter = registry.build(system)
    pages, read = [], 0
    for number, page in enumerate(adapter.read(cursor), start=1):
        body = {"system": system, "run_id": run_id, "page": number, "cursor": page.cursor, "records": page.records}
        pages.append(landing.put_page(system, run_id, number, body))
        read += len(page.records)
        progress.say(f"extract {system}: page {number}, {read} records")
    return {"system": system, "run_id": run_id, "pages": pages, "read": read}


def _saved_cursor(system: str) -> dict | None:
    with session() as s:
        row = s.get(Cursor, system)
        return dict(row.position) if row else None
