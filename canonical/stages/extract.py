"""Extract: reads one stream of one system from its saved cursor and lands the raw pages. Moves no
cursor: the load stage does that in the same transaction as the records, so a crash in between
re-reads, never skips."""
from __future__ import annotations

from adapters import registry
from canonical import landing, progress
from canonical.store import Cursor, session


def cursor_key(system: str, stream: str) -> str:
    return f"{system}/{stream}"


def extract(target: str, run_id: str) -> dict:
    """`target` is "system/stream"; returns the manifest of landed pages the load stage reads."""
    system, stream = target.split("/", 1)
    adapter = registry.build(system)
    pages, read = [], 0
    for number, page in enumerate(adapter.read(stream, _saved_cursor(target)), start=1):
        body = {"system": system, "stream": stream, "run_id": run_id, "page": number, "cursor": page.cursor,
                "records": page.records}
        pages.append(landing.put_page(target, run_id, number, body))
        read += len(page.records)
        progress.say(f"extract {target}: page {number}, {read} records")
    return {"system": system, "stream": stream, "run_id": run_id, "pages": pages, "read": read}


def _saved_cursor(key: str) -> dict | None:
    with session() as s:
        row = s.get(Cursor, key)
        return dict(row.position) if row else None
