"""Engine, sessions and migrations. CONCORD_DB_URL picks the database; SQLite under var/ by default."""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import msgspec
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session

from canonical import paths

MIGRATIONS = Path(__file__).parent / "migrations"


def db_url() -> str:
    return os.environ.get("CONCORD_DB_URL") or f"sqlite:///{paths.ensure(paths.var_dir()) / 'concord.db'}"


def engine(url: str | None = None) -> Engine:
    """The engine of `url`, or of CONCORD_DB_URL as it is now (one engine, and pool, per URL)."""
    return _engine(url or db_url())


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # Parallel Airflow tasks share the file: wait for the lock instead of failing at once.
        eng = create_engine(url, connect_args={"timeout": 60}, json_deserializer=json_loads)
        event.listen(eng, "connect", _sqlite_pragmas)
        return eng
    return create_engine(url, pool_pre_ping=True, json_deserializer=json_loads)


_decode = msgspec.json.Decoder().decode


def json_loads(text: str | bytes):
    """JSON columns decoded by msgspec (twice the standard library's speed on our records, and the store
    decodes several hundred thousand per stage at scale); what it refuses (NaN, numbers out of range,
    which json.dumps writes) goes to the standard library."""
    try:
        return _decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return json.loads(text)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(url: str | None = None) -> None:
    """Brings the database to the newest schema; a no-op when it is there already."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def session(url: str | None = None) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back when it raises."""
    with Session(engine(url), expire_on_commit=False) as s:
        with s.begin():
            yield s


class GrowthStatistics:
    """Keeps PostgreSQL's planner statistics of a table current while one task grows it.

    A load looks a page's ids up by the table's unique key. On a table that was empty at its last
    ANALYZE, the planner scans every row of the stream for each lookup (an index range on the leading
    columns, the ids as a filter) until autovacuum analyzes it again, a minute or more later: a first
    load of 150,000 activities became quadratic and took over ten minutes. So the task analyzes the
    table itself each time the rows it added reach the size the table had at its last analysis; that
    is a handful of ANALYZEs per load, each reading a fixed sample. SQLite plans by the index alone."""

    FIRST = 1000  # rows added before the first analysis of a table the statistics think empty

    def __init__(self, table: str, url: str | None = None):
        self.table, self.engine = table, engine(url)
        self.enabled = self.engine.dialect.name == "postgresql"
        self.added, self.known = 0, self._estimate() if self.enabled else 0

    def grew(self, rows: int) -> None:
        """Rows committed since the last call; analyzes when they reach the size last analyzed."""
        if not self.enabled:
            return
        self.added += rows
        if self.added >= max(self.known, self.FIRST):
            with self.engine.begin() as c:
                c.execute(text(f"ANALYZE {self.table}"))
            self.known, self.added = self._estimate(), 0

    def _estimate(self) -> int:
        with self.engine.connect() as c:
            return max(int(c.execute(text("SELECT reltuples FROM pg_class WHERE relname = :t"),
                                     {"t": self.table}).scalar() or 0), 0)


# What reconcile and delivery rewrite in bulk; their next readers look rows up by key and by customer.
RECONCILE_TABLES = ("source_records", "golden_customers", "links", "match_evidence", "cluster_events", "outbox")
DELIVERY_TABLES = ("outbox", "sync_log", "source_records")
ANALYZE_BASE, ANALYZE_SHARE = 50, 0.1  # autovacuum_analyze_threshold and _scale_factor's defaults


def refresh_statistics(s: Session, tables, at_least: int = 0) -> list[str]:
    """ANALYZEs, in the session's transaction, those of `tables` whose rows changed by more than
    autovacuum's default threshold since their last analysis, counting the changes committed before
    and those of this transaction (ANALYZE samples them too, and its statistics commit with them);
    `at_least`: changes the caller knows of that the server may not have counted yet. Returns them.

    Autovacuum may be off or a minute behind (it is off on the machines this project is tested on).
    A table analyzed before a first run filled it, or while one system's records were loaded and not
    yet the others', has statistics saying a system holds one record, and the planner then answers a
    lookup of a few hundred customers by reading all that system's records once per IN list: the 1%
    run of the 100k benchmark spent most of its write planning that way."""
    if s.get_bind().dialect.name != "postgresql":
        return []
    stale = [name for name, changed, analyzed in s.execute(text(
        "SELECT t.name, coalesce(st.n_mod_since_analyze, 0) + pg_stat_get_xact_tuples_inserted(c.oid)"
        " + pg_stat_get_xact_tuples_updated(c.oid) + pg_stat_get_xact_tuples_deleted(c.oid), greatest(c.reltuples, 0)"
        " FROM unnest(CAST(:names AS text[])) AS t(name) JOIN pg_class c ON c.oid = to_regclass(t.name)"
        " LEFT JOIN pg_stat_user_tables st ON st.relid = c.oid"), {"names": list(tables)})
        if max(changed, at_least) > ANALYZE_BASE + ANALYZE_SHARE * analyzed]
    if stale:
        s.execute(text("ANALYZE " + ", ".join(stale)))
    return stale
