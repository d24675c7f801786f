"""The canonical store: source records, golden customers, links, cursors, quarantine, sync log, runs."""
from canonical.store.db import db_url, engine, migrate, session
from canonical.store.models import (
    Activity,
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
    "Activity", "Base", "Cursor", "GoldenCustomer", "Link", "QuarantinedRecord", "Run", "SourceRecord",
    "SyncLogEntry", "db_url", "engine", "migrate", "session",
]
