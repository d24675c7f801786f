"""The canonical store: source records, golden customers, links, cursors, quarantine, sync log, runs."""
from canonical.store.db import db_url, engine, migrate, session
from canonical.store.models import (
    Base,
    Cursor,
    GoldenCustomer,
    Link,
    QuarantinedRecord,
    Run,
    SourceRecord,
    SyncLogEntry,
)

__all__ = [
    "Base", "Cursor", "GoldenCustomer", "Link", "QuarantinedRecord", "Run", "SourceRecord",
    "SyncLogEntry", "db_url", "engine", "migrate", "session",
]
