"""The store's schema: made by the Alembic migrations, equal to the models, on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from canonical.store import Base, Cursor, Run, engine, migrate, session

TABLES = {"source_records", "activities", "golden_customers", "links", "cursors", "quarantine", "sync_log", "runs",
          "match_overrides", "cluster_events", "match_models", "match_evidence", "outbox", "suppression",
          "alembic_version"}


def test_migrations_create_every_table_and_running_them_again_changes_nothing(store_url):
    migrate()
    migrate()
    assert set(inspect(engine()).get_table_names()) == TABLES


def test_the_migrations_and_the_models_agree(store_url):
    migrate()
    with engine().connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_a_transaction_that_fails_leaves_nothing_behind(store_url):
    migrate()
    try:
        with session() as s:
            s.add(Cursor(source="zendesk", position={"start_time": 1}, run_id="r1"))
            s.flush()
            raise RuntimeError("the worker died")
    except RuntimeError:
        pass
    with session() as s:
        assert s.get(Cursor, "zendesk") is None


def test_json_and_timestamps_round_trip(store_url):
    migrate()
    with session() as s:
        s.add(Run(run_id="r1", summary={"read": {"zendesk": 3}, "name": "Zoë"}))
    with session() as s:
        run = s.scalar(select(Run))
        assert run.summary == {"read": {"zendesk": 3}, "name": "Zoë"} and run.started_at is not None
