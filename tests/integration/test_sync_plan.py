"""The creation policy on a real store: a customer missing from a system is created there only when
the policy says so, and never where the system deleted their record (no resurrection)."""
from __future__ import annotations

from datetime import datetime

from canonical.store import GoldenCustomer, SourceRecord, migrate, session
from canonical.sync.plan import plan

SUBSCRIBED = {"email": {"status": "subscribed", "updated_at": "2026-05-01T00:00:00+00:00"}}


def golden(customer_id: str, email: str, consent=SUBSCRIBED) -> GoldenCustomer:
    fields = {"given_name": "Ana", "family_name": "Lima", "emails": [email], "consent": consent,
              "external_ids": {"concord": customer_id}}
    return GoldenCustomer(customer_id=customer_id, fields=fields, lineage={}, content_hash=customer_id,
                          created_run="r1", updated_run="r1", retired=False)


def deleted_member(email: str) -> SourceRecord:
    canonical = {"source": "mailchimp", "source_id": "m1", "updated_at": "2026-06-01T00:00:00Z", "emails": [email]}
    return SourceRecord(source="mailchimp", source_id="m1", raw={}, canonical=canonical, content_hash="h",
                        source_updated_at=datetime(2026, 6, 1), deleted=True,
                        first_seen_run="r1", last_changed_run="r1", last_read_run="r1")


def creates(system: str) -> dict[str, dict]:
    with session() as s:
        return {w.customer_id: w.fields for w in plan(s, system) if w.source_id is None}


def test_creation_is_off_by_default_and_follows_the_policy_when_on(monkeypatch):
    migrate()
    with session() as s:
        s.add_all([golden("cus_a", "ana@example.com"), golden("cus_b", "bo@example.com", consent={}),
                   golden("cus_c", "cy@example.com")])
        s.add(deleted_member("CY@example.com "))  # marketing deleted this one: not to be brought back
    assert creates("mailchimp") == {}
    monkeypatch.setenv("CONCORD_CREATE_MAILCHIMP", "all")
    made = creates("mailchimp")
    assert set(made) == {"cus_a"}  # cus_b has no subscribed consent, cus_c's member was deleted
    assert made["cus_a"]["emails"] == (None, ["ana@example.com"])
    assert made["cus_a"]["consent.email.status"] == (None, "subscribed")


def test_the_outbox_holds_exactly_the_latest_plan():
    from sqlalchemy import select

    from canonical.store import OutboxEntry
    from canonical.sync import outbox
    from canonical.sync.plan import PlannedWrite

    migrate()
    name = PlannedWrite("twilio", "+13125557788", "cus_a", {"full_name": ("Ana Lima", "Ana Souza Lima")})
    with session() as s:
        assert outbox.enqueue(s, "r1", "twilio", [name]) == 1
    with session() as s:  # delivery failed, retriably: tried again next run
        entry = s.scalars(select(OutboxEntry)).one()
        entry.status, entry.attempts = "failed", 1
    with session() as s:
        assert outbox.enqueue(s, "r2", "twilio", [name]) == 1  # planned again, unchanged: kept, not doubled
    with session() as s:
        assert [(e.status, e.attempts) for e in s.scalars(select(OutboxEntry))] == [("failed", 1)]
    with session() as s:  # an agent renamed the caller since: the new plan no longer has this write
        assert outbox.enqueue(s, "r3", "twilio", []) == 0
    with session() as s:
        assert [e.status for e in s.scalars(select(OutboxEntry))] == ["superseded"]
        assert outbox.waiting(s, "twilio") == []  # never sent late over the person's edit
