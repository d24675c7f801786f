"""The store's schema: made by the Alembic migrations, equal to the models, on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from canonical.store import Base, Cursor, Run, engine, migrate, session

TABLES = {"source_records", "activities", "golden_customers", "links", "cursors", "quarantine", "sync_log", "runs",
          "match_overrides", "cluster_events", "match_models", "match_evidence", "outbox", "suppression", "plan_states",
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


def test_a_first_load_keeps_the_planner_on_the_unique_key_as_the_table_grows(store_url):
    """A load looks each page's ids up by the activity key. On PostgreSQL a table that was empty at its
    last ANALYZE is read whole for every page (the ids become a filter) until statistics catch up, which
    made a first load of 150,000 activities quadratic; the load refreshes them as the table grows."""
    from sqlalchemy import text

    from canonical import landing
    from canonical.stages.load import load

    migrate()
    pages = []
    for number in range(1, 5):
        records = [{"campaign_id": "c1", "list_id": "l1", "email_id": f"{n:032x}", "email_address": f"p{n}@example.com",
                    "action": "open", "timestamp": "2025-01-02T03:04:05+00:00",
                    "activity_id": f"c1:{n:032x}:open:2025-01-02T03:04:05+00:00"}
                   for n in range((number - 1) * 1500, number * 1500)]
        pages.append(landing.put_page("mailchimp/email_activity", "r1", number,
                                      {"system": "mailchimp", "stream": "email_activity", "run_id": "r1",
                                       "page": number, "cursor": {}, "records": records}))
    done = load({"system": "mailchimp", "stream": "email_activity", "run_id": "r1", "pages": pages, "read": 6000})
    assert done["new"] == 6000
    with engine().connect() as c:
        assert c.execute(text("SELECT count(*) FROM activities")).scalar() == 6000
        if c.dialect.name != "postgresql":
            return  # SQLite plans by the index alone: nothing to keep current
        ids = ", ".join(f"'c1:{n:032x}:open:2025-01-02T03:04:05+00:00'" for n in range(0, 500, 7))
        plan = "\n".join(row[0] for row in c.execute(text(
            "EXPLAIN SELECT * FROM activities WHERE source = 'mailchimp' AND kind = 'email_event' "
            f"AND source_id IN ({ids})")))
    index_condition = next((line for line in plan.splitlines() if "Index Cond" in line), "")
    assert "source_id" in index_condition, plan
