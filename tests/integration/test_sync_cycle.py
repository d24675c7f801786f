"""One sync cycle end to end in this process, against the Zendesk sandbox over HTTP and a real store
(SQLite, and PostgreSQL where it runs), checked against the sandbox's own state."""
from __future__ import annotations

from collections import Counter

import requests
from sqlalchemy import func, select

from adapters.world import World
from adapters.zendesk.seed import seed, seed_users
from canonical import tasks
from canonical.cycle import run_cycle
from canonical.store import (Activity, Cursor, GoldenCustomer, Link, OutboxEntry, QuarantinedRecord, SourceRecord,
                             session)


def sandbox_users(sandbox) -> dict[str, dict]:
    auth = (f"{sandbox.email}/token", sandbox.api_token)
    users, url = {}, f"{sandbox.base_url}/api/v2/users.json?page[size]=100"
    while url:
        body = requests.get(url, auth=auth, timeout=10).json()
        users.update({str(u["id"]): u for u in body["users"]})
        url = body["links"]["next"]
    return users


def put_user(sandbox, user_id: str, **fields) -> None:
    auth = (f"{sandbox.email}/token", sandbox.api_token)
    response = requests.put(f"{sandbox.base_url}/api/v2/users/{user_id}.json", json={"user": fields}, auth=auth,
                            timeout=10)
    assert response.status_code == 200, response.text


def true_people(malformed: dict) -> int:
    """How many real people the valid Zendesk users are, by the world's ground truth."""
    return len({v.person_id for v in World(7, 500).views("zendesk") if int(v.source_id) not in malformed})


def test_first_cycle_links_every_valid_user_and_writes_the_id_back(zendesk, store_url):
    users, malformed = seed_users(7, 500)
    tickets = seed(7, 500)[1]
    summary = run_cycle()
    valid = len(users) - len(malformed)
    assert summary["read"] == {"zendesk": len(users) + len(tickets)}
    assert summary["changed"] == valid + len(tickets)
    assert summary["quarantined"] == len(malformed) and summary["failed_writes"] == 0
    # Duplicates merge (never below the true number of people); each customer's id lands on one record,
    # and a duplicate may also be brought in line with the golden record (its nickname replaced).
    assert true_people(malformed) <= summary["customers"] <= valid
    with session() as s:
        outbox = list(s.scalars(select(OutboxEntry)))
        id_writes = Counter(o.customer_id for o in outbox if "external_ids.concord" in o.fields)
        links = {l.source_id: l.customer_id for l in s.scalars(select(Link))}
        assert s.scalar(select(func.count()).select_from(Activity)) == len(tickets)
    assert summary["writes"] == {"zendesk": len(outbox)}
    assert len(id_writes) == summary["customers"] and set(id_writes.values()) == {1}
    held = sandbox_users(zendesk)
    assert len(links) == valid
    assert {held[uid]["external_id"] for uid in links} - {None} == set(links.values())


def test_malformed_records_are_quarantined_with_a_reason_naming_record_and_field(zendesk, store_url):
    _, malformed = seed_users(7, 500)
    run_cycle()
    with session() as s:
        quarantined = {q.source_id: q.reason for q in s.scalars(select(QuarantinedRecord))}
        stored = set(s.scalars(select(SourceRecord.source_id)))
    assert set(quarantined) == {str(i) for i in malformed}
    for user_id, field in malformed.items():
        expected = "emails.0" if field == "email" else "phones.0"
        assert f"field {expected}:" in quarantined[str(user_id)]
        assert "(at)" not in quarantined[str(user_id)]  # the bad value itself is masked
    assert not stored & set(quarantined)


def test_a_second_and_third_cycle_with_nothing_new_write_nothing(zendesk, store_url):
    first = run_cycle()
    for _ in range(2):
        again = run_cycle()
        assert again["changed"] == 0 and again["writes"] == {"zendesk": 0}
        assert again["customers"] == first["customers"] and again["quarantined"] == 0
    with session() as s:
        users, malformed = seed_users(7, 500)
        assert s.scalar(select(func.count()).select_from(SourceRecord)) == len(users) - len(malformed)


def test_an_edit_in_the_source_is_read_once_and_keeps_the_customer(zendesk, store_url):
    run_cycle()
    user_id = next(iter(sandbox_users(zendesk)))
    with session() as s:
        before = s.get(Link, ("zendesk", user_id))
    put_user(zendesk, user_id, name="Renamed Person")
    summary = run_cycle()
    # The read also brings back the first cycle's own writes: echoes, recognised as no change.
    assert summary["changed"] == 1 and summary["writes"] == {"zendesk": 0}
    with session() as s:
        assert s.get(Link, ("zendesk", user_id)).customer_id == before.customer_id
        golden = s.get(GoldenCustomer, before.customer_id)
        assert golden.fields["full_name"] == "Renamed Person"


def test_a_fixed_record_leaves_quarantine(zendesk, store_url):
    _, malformed = seed_users(7, 500)
    run_cycle()
    broken = next(str(i) for i, field in malformed.items() if field == "email")
    put_user(zendesk, broken, email=f"fixed.{broken}@example.com")
    summary = run_cycle()
    assert summary["changed"] == 1 and summary["writes"] == {"zendesk": 1}
    with session() as s:
        assert s.scalar(select(QuarantinedRecord).where(QuarantinedRecord.source_id == broken)).resolved_run
        assert s.get(Link, ("zendesk", broken)) is not None


def test_the_cursor_moves_only_with_the_records_it_covers(zendesk, store_url):
    run_id = "test__crash_after_extract"
    tasks.prepare(run_id)
    tasks.extract("zendesk/users", run_id)  # landed, then the worker died before loading
    with session() as s:
        assert s.get(Cursor, "zendesk/users") is None
    summary = run_cycle()
    users, malformed = seed_users(7, 500)
    assert summary["read"]["zendesk"] >= len(users)  # everything again, from the old cursor
    with session() as s:
        assert s.scalar(select(func.count()).select_from(SourceRecord)) == len(users) - len(malformed)


def test_a_lost_store_recovers_the_ids_written_into_zendesk(zendesk, store_url, tmp_path, monkeypatch):
    run_cycle()
    with session() as s:
        before = {l.source_id: l.customer_id for l in s.scalars(select(Link))}
    monkeypatch.setenv("CONCORD_DB_URL", f"sqlite:///{tmp_path}/replacement.db")
    summary = run_cycle()
    with session() as s:
        after = {l.source_id: l.customer_id for l in s.scalars(select(Link))}
    assert after == before and summary["writes"] == {"zendesk": 0}


def test_duplicates_in_one_system_carry_the_customer_id_once(zendesk, store_url):
    run_cycle()
    users = sorted(sandbox_users(zendesk))
    with session() as s:  # an operator says two Zendesk users are one person
        keep, dup = s.get(Link, ("zendesk", users[0])), s.get(Link, ("zendesk", users[1]))
        dup.customer_id = keep.customer_id
    from canonical.sync.plan import plan
    with session() as s:
        planned = [w for w in plan(s, "zendesk") if w.customer_id == keep.customer_id]
    # The first record already carries the id; its duplicate is not given it too (names it may get).
    assert all("external_ids.concord" not in w.fields for w in planned)


def test_a_cycle_leaves_the_planner_statistics_of_what_it_rewrote_current(zendesk, store_url):
    """Autovacuum is off here (and may lag anywhere): without the cycle's own ANALYZE, a table filled
    by a first run keeps the statistics of its empty self, and the next run's lookups by customer
    read whole tables. SQLite plans by its indexes alone and keeps no such statistics."""
    from sqlalchemy import text

    run_cycle()
    with session() as s:
        if s.get_bind().dialect.name != "postgresql":
            return
        for table in ("source_records", "golden_customers", "links", "outbox", "sync_log"):
            rows = s.scalar(text(f"SELECT count(*) FROM {table}"))
            estimated = s.scalar(text(f"SELECT reltuples FROM pg_class WHERE relname = '{table}'"))
            assert rows > 100 and abs(estimated - rows) <= 0.1 * rows, (table, rows, estimated)
