"""Extract: reads one stream of one system from its saved cursor and lands the raw pages. Moves no
cursor: the load stage does that in the same transaction as the records, so a crash in between
re-reads, never skips."""
from __future__ import annotations

from adapters import registry
from canonical import landing, progress
from canonical.store import Cursor, session

LANDED_RECORDS = 1000  # records per landed page (a vendor page holding more lands alone)


def cursor_key(system: str, stream: str) -> str:
    return f"{system}/{stream}"


def extract(target: str, run_id: str) -> dict:
    """`target` is "system/stream"; returns the manifest of landed pages the load stage reads."""
    system, stream = target.split("/", 1)
    adapter = registry.build(system)
    pages, read, body = [], 0, None
    for number, page in enumerate(adapter.read(stream, _saved_cursor(target)), start=1):
        # Consecutive vendor pages land as one page of up to LANDED_RECORDS records, with the cursor of
        # the last: the load takes a landed page in one transaction. A source walked whole every run
        # (Twilio's caller directory has no "changed since" filter) yields hundreds of pages holding a
        # record or none, and loading them one by one took longer than the records they held.
        body = body or {"system": system, "stream": stream, "run_id": run_id, "page": number, "records": []}
        body["records"] += page.records
        body["cursor"] = page.cursor
        read += len(page.records)
        if len(body["records"]) >= LANDED_RECORDS:
            pages.append(landing.put_page(target, run_id, body["page"], body))
            body = None
        progress.say(f"extract {target}: page {number}, {read} records")
    if body is not None:  # the rest, or a walk that found nothing: its cursor still moves the stream on
        pages.append(landing.put_page(target, run_id, body["page"], body))
    return {"system": system, "stream": stream, "run_id": run_id, "pages": pages, "read": read}


def _saved_cursor(key: str) -> dict | None:
    with session() as s:
        row = s.get(Cursor, key)
        return dict(row.position) if row else None
