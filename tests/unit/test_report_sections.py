"""Each section of the report on a small hand-built snapshot, where every expected figure is visible."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from canonical.report import assemble, schema_errors
from canonical.report.conflicts import conflicts
from canonical.report.missing import missing_fields
from canonical.report.orphans import orphans
from canonical.report.snapshot import Snapshot

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
SUMMARY = {"run_id": "r2", "read": {}, "changed": 0, "customers": 2, "writes": {}, "quarantined": 0,
           "failed_writes": 1, "report": "-"}


def snap() -> Snapshot:
    records = {
        ("shopify", "gid://shopify/Customer/1"): {"source": "shopify", "source_id": "gid://shopify/Customer/1",
                                                  "given_name": "Ana", "phones": ["+14155550134"]},
        ("hubspot", "51000"): {"source": "hubspot", "source_id": "51000", "given_name": "Ana",
                               "emails": ["ana@example.com"]},
        ("hubspot", "51003"): {"source": "hubspot", "source_id": "51003", "emails": ["ana.l@example.com"]},
        ("twilio", "+14155550199"): {"source": "twilio", "source_id": "+14155550199", "full_name": "Bo"},
    }
    links = {("shopify", "gid://shopify/Customer/1"): "c1", ("hubspot", "51000"): "c1", ("hubspot", "51003"): "c1",
             ("twilio", "+14155550199"): "c2"}
    lineage = {"emails": {"source": "hubspot", "source_id": "51000", "rule": "most_recent", "confidence": 0.9,
                          "others": [{"source": "hubspot", "source_id": "51003", "value": ["ana.l@example.com"]}]},
               "given_name": {"source": "hubspot", "source_id": "51000", "rule": "most_recent", "others": []},
               "phones": "unexpected shape from a newer engine"}
    return Snapshot(
        run_id="r2", now=NOW, records=records, deleted={("twilio", "+14155550100")}, links=links,
        link_rules={k: "email" for k in links},
        goldens={"c1": {"fields": {"emails": ["ana@example.com"], "given_name": "Ana"}, "lineage": lineage},
                 "c2": {"fields": {"full_name": "Bo", "consent": {"sms": {"status": "unsubscribed"}}},
                        "lineage": {"consent": {"sms": {
                            "source": "twilio", "source_id": "+14155550199", "rule": "consent_newest_explicit",
                            "others": [{"source": "shopify", "source_id": "s9", "status": "unsubscribed"},
                                       {"source": "hubspot", "source_id": "h9", "status": "subscribed"}]}}}}},
        activities=[_activity("hubspot", "ev1", "ANA@example.com "), _activity("hubspot", "ev2", "x@nowhere.test"),
                    _activity("twilio", "CA1", "+14155550100"), _activity("twilio", "CA2", "+14155550199"),
                    _activity("shopify", "o1", "gid://shopify/Customer/9")],
        quarantine=[{"system": "shopify", "source_id": "gid://shopify/Customer/9", "reason": "field emails.0: bad",
                     "first_seen_run": "r1", "first_seen_at": NOW.isoformat()}],
        sync_log=[{"system": "hubspot", "source_id": "51000", "customer_id": "c1", "field": "phones",
                   "outcome": "failed", "reason": "400 INVALID_PHONE for ana@example.com"}],
        cursors=[{"stream": "hubspot/contacts", "run_id": "r1", "updated_at": NOW - timedelta(hours=3)}],
        runs=[{"run_id": "r1", "finished_at": (NOW - timedelta(hours=1)).isoformat(),
               "summary": {"customers": 2, "changed": 4, "quarantined": 1, "failed_writes": 0}}],
        systems=["hubspot", "shopify", "twilio"],
    )


def _activity(system: str, source_id: str, ref: str) -> dict:
    return {"system": system, "kind": "x", "source_id": source_id, "customer_ref": ref,
            "occurred_at": NOW.isoformat()}


def test_missing_fields_are_fillable_not_writable_or_unfillable_by_mapping_and_peers():
    found = missing_fields(snap())
    by = found["by_system"]
    assert by["hubspot"]["phones"] == {"missing": 2, "fillable": 2, "not_writable": 0, "unfillable": 0}
    assert by["shopify"]["emails"] == {"missing": 1, "fillable": 0, "not_writable": 1, "unfillable": 0}
    assert by["hubspot"]["given_name"]["fillable"] == 1  # 51003 has none; shopify knows "Ana"
    assert by["hubspot"]["birth_date"]["unfillable"] == 2 and by["twilio"]["emails"]["unfillable"] == 1
    fill = [i for i in found["items"] if i["system"] == "hubspot" and i["field"] == "phones"]
    assert {i["source_id"] for i in fill} == {"51000", "51003"}
    assert fill[0]["known_by"] == [{"system": "shopify", "source_id": "gid://shopify/Customer/1",
                                    "value": ["+14155550134"]}]


def test_conflicts_read_lineage_defensively_and_keep_the_rule():
    conflict, consent = conflicts(snap())
    assert conflict["field"] == "emails" and conflict["rule"] == "most_recent"
    assert conflict["winner"] == {"system": "hubspot", "source_id": "51000", "value": ["ana@example.com"]}
    assert conflict["others"][0]["source_id"] == "51003" and conflict["systems"] == ["hubspot"]
    # consent lineage is grouped per channel; an event with the winning status is no conflict
    assert consent["field"] == "consent.sms" and consent["rule"] == "consent_newest_explicit"
    assert consent["winner"]["value"] == {"status": "unsubscribed"}
    assert consent["others"] == [{"system": "hubspot", "source_id": "h9", "value": {"status": "subscribed"}}]


def test_orphans_resolve_by_id_or_by_recipient_address_and_say_why():
    found = {o["source_id"]: o["reason"] for o in orphans(snap())["items"]}
    assert found == {"ev2": "no_record", "CA1": "record_deleted", "o1": "record_quarantined"}


def test_the_whole_report_validates_and_carries_headline_figures_and_trend():
    report = assemble.build(snap(), SUMMARY)
    assert schema_errors(report) == []
    assert report["gaps"] == {"orphans": 3, "conflicts": 2, "duplicates": 1, "fillable": 3, "quarantine_open": 1}
    assert report["duplicates"][0]["source_ids"] == ["51000", "51003"]
    assert report["failed_writes"]["dead_lettered"] == 1 and report["failed_writes"]["records"] == 1
    assert report["staleness"][0]["age_seconds"] == 3 * 3600
    assert [p["run_id"] for p in report["trend"]] == ["r1", "r2"] and report["trend"][0]["orphans"] is None
    gaps = {(g["present"], g["missing"]): g["customers"] for g in report["coverage"]["gaps"]}
    assert gaps[("shopify", "twilio")] == 1 and gaps[("twilio", "hubspot")] == 1 and gaps[("hubspot", "shopify")] == 0
    active = {(g["present"], g["missing"]): g["active"] for g in report["coverage"]["gaps"]}
    assert active[("twilio", "hubspot")] == 1 and active[("shopify", "twilio")] == 0  # c1 placed no order
    assert report["coverage"]["members"][0]["active_in"] == ["hubspot"]  # ev1 found c1 by its address


def test_a_report_that_breaks_its_schema_is_caught():
    report = assemble.build(snap(), SUMMARY)
    report["orphans"]["items"][0]["reason"] = "lost"
    del report["coverage"]
    problems = schema_errors(report)
    assert any("coverage" in p for p in problems) and any(p.startswith("orphans/items/0/reason") for p in problems)
