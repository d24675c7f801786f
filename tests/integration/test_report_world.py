"""The report's figures against a seeded world's ground truth. The store is filled straight from the
world through the store API, with every record validated by the real contract and linked to the person
it belongs to (a perfect reconciler), so that each figure has one right answer: the generator's."""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from adapters.world import SYSTEMS, World
from canonical import audit
from canonical.report import assemble, schema_errors, snapshot
from canonical.store import (Activity, Cursor, GoldenCustomer, Link, QuarantinedRecord, Run, SourceRecord, migrate,
                             session)
from canonical.validate import problems

SEED, PEOPLE = 3, 400
GOLDEN_FIELDS = ("given_name", "family_name", "full_name", "emails", "phones", "address", "birth_date", "consent")
RUN = "manual__2026-11-01T00:00:00+00:00"
STREAMS = {"zendesk": ("users", "tickets"), "shopify": ("customers", "orders"), "twilio": ("callers", "calls"),
           "hubspot": ("contacts", "email_events"), "mailchimp": ("members", "email_activity")}


def canonical_of(view) -> dict:
    record = {"source": view.system, "source_id": view.source_id, "updated_at": view.updated_at,
              "given_name": view.given_name, "family_name": view.family_name, "full_name": view.full_name,
              "emails": [view.email] if view.email else None, "phones": [view.phone] if view.phone else None,
              "address": {k: v for k, v in (view.address or {}).items() if v} or None,
              "birth_date": view.birth_date, "consent": view.consent or None}
    return {k: v for k, v in record.items() if v not in (None, "", [], {})}


def golden(records: list[dict]) -> tuple[dict, dict]:
    """Newest value wins, with lineage in the store's documented shape: the report is under test here,
    not the reconciler, which is free to choose otherwise."""
    newest_first = sorted(records, key=lambda r: r["updated_at"], reverse=True)
    fields, lineage = {}, {}
    for name in GOLDEN_FIELDS:
        holders = [r for r in newest_first if r.get(name)]
        if holders:
            fields[name] = holders[0][name]
            lineage[name] = {"source": holders[0]["source"], "source_id": holders[0]["source_id"],
                             "rule": "most_recent",
                             "others": [{"source": r["source"], "source_id": r["source_id"], "value": r[name]}
                                        for r in holders[1:] if r[name] != fields[name]]}
    return fields, lineage


def customer_id(person_id: str) -> str:
    return f"cust-{person_id}"


def load_world(world: World, run_id: str = RUN) -> dict:
    """Puts the world into the store; returns the truth the report is checked against."""
    migrate()
    truth = {"valid": {}, "malformed": {}, "records": defaultdict(list)}
    with session() as s:
        for system in SYSTEMS:
            for view in world.views(system):
                _store_view(s, view, truth, run_id)
            for activity in world.activities(system):
                s.add(Activity(source=system, kind=activity.kind, source_id=activity.source_id,
                               customer_ref=activity.customer_ref, occurred_at=_time(activity.occurred_at), raw={},
                               canonical={}, content_hash="-", first_seen_run=run_id, last_changed_run=run_id))
            for stream in STREAMS[system]:
                s.add(Cursor(source=f"{system}/{stream}", position={}, run_id=run_id,
                             updated_at=datetime.now(timezone.utc) - timedelta(hours=2)))
        _store_goldens(s, truth, run_id)
        s.add(Run(run_id=run_id))
    return truth


def _store_view(s, view, truth: dict, run_id: str) -> None:
    record, key = canonical_of(view), (view.system, view.source_id)
    found = problems(record)
    if found:
        truth["malformed"][key] = view.malformed
        s.add(QuarantinedRecord(run_id=run_id, source=view.system, source_id=view.source_id, raw={},
                                raw_hash=f"{view.system}:{view.source_id}", reason="; ".join(map(str, found))))
        return
    truth["valid"][key] = view.person_id
    truth["records"][view.person_id].append(record)
    s.add(SourceRecord(source=view.system, source_id=view.source_id, raw={}, canonical=record, content_hash="-",
                       source_updated_at=_time(view.updated_at), deleted=False, first_seen_run=run_id,
                       last_changed_run=run_id, last_read_run=run_id))


def _store_goldens(s, truth: dict, run_id: str) -> None:
    for person_id, records in truth["records"].items():
        cid = customer_id(person_id)
        fields, lineage = golden(records)
        s.add(GoldenCustomer(customer_id=cid, fields=fields, lineage=lineage, content_hash="-", created_run=run_id,
                             updated_run=run_id, retired=False))
    s.flush()
    for (system, source_id), person_id in truth["valid"].items():
        s.add(Link(source=system, source_id=source_id, customer_id=customer_id(person_id), rule="truth",
                   linked_run=run_id))


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def build_report(run_id: str = RUN) -> dict:
    with session() as s:
        snap = snapshot.read(s, run_id, datetime.now(timezone.utc))
    return assemble.build(snap, {"run_id": run_id, "read": {}, "changed": 0, "customers": len(snap.goldens),
                                 "writes": {}, "quarantined": 0, "failed_writes": 0, "report": "-"})


@pytest.fixture
def world():
    return World(SEED, PEOPLE)


@pytest.fixture
def loaded(world, store_url):
    return load_world(world)


def people_in(truth: dict) -> dict[str, set]:
    held = defaultdict(set)
    for (system, _), person_id in truth["valid"].items():
        held[system].add(person_id)
    return held


def test_coverage_counts_equal_the_world(loaded, world):
    report, held = build_report(), people_in(loaded)
    coverage = report["coverage"]
    assert coverage["customers"] == len(set(loaded["valid"].values()))
    for system in SYSTEMS:
        records = sum(1 for key in loaded["valid"] if key[0] == system)
        assert coverage["systems"][system] == {"customers": len(held[system]), "records": records}
    gaps = {(g["present"], g["missing"]): g["customers"] for g in coverage["gaps"]}
    assert gaps == {(a, b): len(held[a] - held[b]) for a in SYSTEMS for b in SYSTEMS if a != b}
    assert gaps[("shopify", "hubspot")] > 0  # the world has shoppers HubSpot never heard of
    active = {(a.system, loaded["valid"][(a.system, a.customer_ref)]) for s in SYSTEMS for a in world.activities(s)
              if (a.system, a.customer_ref) in loaded["valid"]}
    bought = {(g["present"], g["missing"]): g["active"] for g in coverage["gaps"]}
    assert bought == {(a, b): sum(1 for p in held[a] - held[b] if (a, p) in active)
                      for a in SYSTEMS for b in SYSTEMS if a != b}
    assert sum(c["customers"] for c in coverage["combinations"]) == coverage["customers"]


def test_every_injected_orphan_is_reported_and_nothing_else_is(loaded, world):
    report = build_report()
    reported = {(o["system"], o["source_id"]): o for o in report["orphans"]["items"]}
    injected = {(a.system, a.source_id): a for s in SYSTEMS for a in world.activities(s) if a.person_id is None}
    assert {k for k, o in reported.items() if o["reason"] == "no_record"} == set(injected)
    assert all(reported[k]["customer_ref"] == a.customer_ref for k, a in injected.items())
    held_back = {(a.system, a.source_id) for s in SYSTEMS for a in world.activities(s)
                 if (s, a.customer_ref) in loaded["malformed"]}
    assert {k for k, o in reported.items() if o["reason"] == "record_quarantined"} == held_back
    assert report["orphans"]["by_system"] == {s: sum(1 for k in reported if k[0] == s) for s in SYSTEMS}


def test_every_malformed_record_is_in_quarantine_with_a_reason_naming_its_field(loaded, world):
    report = build_report()
    broken = {(v.system, v.source_id): v.malformed for s in SYSTEMS for v in world.views(s) if v.malformed}
    assert broken and loaded["malformed"] == broken
    reasons = {(q["system"], q["source_id"]): q["reason"] for q in report["quarantine"]}
    assert set(reasons) == set(broken)
    for key, field in broken.items():
        assert f"field {'emails' if field == 'email' else 'phones'}.0:" in reasons[key]


def test_duplicates_are_the_worlds_second_records(loaded):
    report = build_report()
    by_person = defaultdict(list)
    for (system, source_id), person_id in loaded["valid"].items():
        by_person[(system, person_id)].append(source_id)
    expected = {(s, frozenset(ids)) for (s, _), ids in by_person.items() if len(ids) > 1}
    assert expected, "the world should hold duplicates at this size"
    assert {(d["system"], frozenset(d["source_ids"])) for d in report["duplicates"]} == expected


def test_conflicts_are_every_field_whose_records_disagree_with_the_winning_rule(loaded):
    report = build_report()
    expected = set()
    for person_id, records in loaded["records"].items():
        for name in GOLDEN_FIELDS:
            values = {json.dumps(r[name], sort_keys=True) for r in records if r.get(name)}
            if len(values) > 1:
                expected.add((customer_id(person_id), name))
    assert expected and {(c["customer_id"], c["field"]) for c in report["conflicts"]} == expected
    with session() as s:
        goldens = {g.customer_id: g.fields for g in s.query(GoldenCustomer)}
    for conflict in report["conflicts"]:
        assert conflict["rule"] == "most_recent"
        assert conflict["winner"]["value"] == goldens[conflict["customer_id"]][conflict["field"]]
        assert all(o["value"] != conflict["winner"]["value"] for o in conflict["others"])


def test_missing_phones_in_hubspot_split_by_who_else_knows(loaded):
    report = build_report()
    phones_of = {person_id: {r["source"] for r in records if r.get("phones")}
                 for person_id, records in loaded["records"].items()}
    fillable = unfillable = 0
    for (system, source_id), person_id in loaded["valid"].items():
        record = next(r for r in loaded["records"][person_id] if r["source_id"] == source_id and r["source"] == system)
        if system == "hubspot" and not record.get("phones"):
            if phones_of[person_id] - {"hubspot"}:
                fillable += 1
            else:
                unfillable += 1
    counts = report["missing_fields"]["by_system"]["hubspot"]["phones"]
    assert (counts["fillable"], counts["unfillable"], counts["not_writable"]) == (fillable, unfillable, 0)
    assert fillable > 0
    shopify_emails = report["missing_fields"]["by_system"]["shopify"]["emails"]
    assert shopify_emails["fillable"] == 0  # shopify does not accept emails from Concord


def test_audit_stores_a_masked_report_that_validates_with_csv_lists_and_a_trend(loaded, world):
    first = audit.audit(RUN, [], {}, {"writes": {}, "failed": {}})
    second = audit.audit("manual__2026-11-02T00:00:00+00:00", [], {}, {"writes": {}, "failed": {}})
    report = json.loads(Path(second["report"]).read_text())
    assert schema_errors(report) == [] and report["pii"] == "masked"
    assert [p["run_id"] for p in report["trend"]] == [first["run_id"], second["run_id"]]
    assert report["trend"][0]["orphans"] == first["gaps"]["orphans"] > 0
    ages = {s["stream"]: s["age_seconds"] for s in report["staleness"]}
    assert set(ages) == {f"{s}/{t}" for s, ts in STREAMS.items() for t in ts}
    assert all(7100 <= age <= 7400 for age in ages.values())
    directory = Path(second["report"]).parent
    orphans_csv = (directory / "orphans.csv").read_text().splitlines()
    assert orphans_csv[0].startswith("system,kind,source_id") and len(orphans_csv) == 1 + second["gaps"]["orphans"]
    stored = "".join((directory / n).read_text() for n in ("report.json", "report.html", "coverage_gaps.csv",
                                                                "missing_fields.csv", "conflicts.csv", "orphans.csv"))
    emails = [v.email for s in SYSTEMS for v in world.views(s) if v.email and "@" in v.email]
    phones = [v.source_id for v in world.views("twilio")]
    assert not [e for e in emails if e in stored] and not [p for p in phones if p in stored]
