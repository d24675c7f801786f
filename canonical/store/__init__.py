"""The canonical store: source records, activities, golden customers, links, cursors, quarantine, sync log,
runs, the outbox and the suppression list."""
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
from canonical.store.sync_models import OutboxEntry, PlanState, Suppression

__all__ = [
    "Activity", "Base", "Cursor", "GoldenCustomer", "Link", "OutboxEntry", "PlanState", "QuarantinedRecord", "Run",
    "SourceRecord",
    "Suppression", "SyncLogEntry", "db_url", "engine", "migrate", "session",
]
