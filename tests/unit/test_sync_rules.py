"""The rules that keep a bidirectional sync quiet and safe: value equivalence, edits told apart from
reformatting, an edit beating older agreement, and consent dated by when a record came to hold it."""
from __future__ import annotations

from canonical.reconcile import survive
from canonical.reconcile.consent import golden_consent
from canonical.sync import edits
from canonical.sync.values import equivalent, wanted


def test_format_is_not_a_change_but_a_new_value_or_a_sloppy_name_is():
    assert equivalent("phones", ["(312) 555-7788"], ["+13125557788"])
    assert equivalent("emails", ["Ana.Lima@Example.COM "], ["ana.lima@example.com"])
    assert equivalent("full_name", "Lima, Ana", "Ana Lima")
    assert equivalent("address.line1", "12 Main St.", "12 Main Street")
    assert not equivalent("phones", ["+13125557788"], ["+12025550143"])
    assert not equivalent("given_name", "ana", "Ana")  # worth writing: every department sees "Ana"
    assert not equivalent("full_name", None, "Ana Lima")
    assert equivalent("phones", ["+13125557788"], None)  # nothing to say: never a clear


def test_the_golden_value_of_a_field_is_shaped_as_the_mapping_reverses_it():
    golden = {"given_name": "Ana", "family_name": "Lima", "phones": ["+13125557788", "+12025550143"],
              "consent": {"email": {"status": "pending"}, "sms": {"status": "unsubscribed"}}}
    assert wanted(golden, "full_name") == "Ana Lima"
    assert wanted(golden, "phones") == ["+13125557788"]
    assert wanted(golden, "consent.email.status") is None  # never write pending or unknown
    assert wanted(golden, "consent.sms.status") == "unsubscribed"


def record(source, source_id, updated_at, **fields):
    return {"source": source, "source_id": source_id, "updated_at": updated_at, **fields}


def test_a_reformatted_phone_is_not_an_edit_and_a_new_one_is():
    before = record("shopify", "1", "2026-01-01T00:00:00Z", phones=["312.555.7788"])
    same = record("shopify", "1", "2026-02-01T00:00:00Z", phones=["+13125557788"])
    assert not (edits.observe(None, before, same, "run2") or {}).get("edits")
    moved = record("shopify", "1", "2026-03-01T00:00:00Z", phones=["+12025550143"])
    state = edits.observe(None, before, moved, "run3")
    assert state["edits"] == {"phones": {"at": "2026-03-01T00:00:00Z", "run": "run3"}}
    assert "phones" not in edits.wrote(state, {"phones": ["+12025550143"]}, None)["edits"]


def test_an_edit_beats_the_agreement_of_every_other_system():
    old = ["+13125557788"]
    records = [record(s, s, "2026-01-01T00:00:00Z", phones=old) for s in ("zendesk", "hubspot", "twilio")]
    edited = edits.for_survivorship(record("shopify", "s", "2026-05-01T00:00:00Z", phones=["+12025550143"]),
                                    {"edits": {"phones": {"at": "2026-05-01T00:00:00Z", "run": "r"}}}, "r")
    fields, lineage = survive.golden("cus_1", [*records, edited])
    assert fields["phones"][0] == "+12025550143" and lineage["phones"]["rule"] == "most_recent_edit"
    assert "conflict" not in lineage["phones"]
    fields, _ = survive.golden("cus_1", records + [record("shopify", "s", "2026-05-01T00:00:00Z",
                                                          phones=["+12025550143"])])
    assert fields["phones"][0] == "+13125557788"  # the same value unedited (first read) is outvoted


def test_two_values_edited_since_the_last_sync_are_a_conflict_the_newer_wins():
    a = edits.for_survivorship(record("hubspot", "h", "2026-05-01T00:00:00Z", phones=["+13125557788"]),
                               {"edits": {"phones": {"at": "2026-05-01T00:00:00Z", "run": "r"}}}, "r")
    b = edits.for_survivorship(record("shopify", "s", "2026-05-02T00:00:00Z", phones=["+12025550143"]),
                               {"edits": {"phones": {"at": "2026-05-02T00:00:00Z", "run": "r"}}}, "r")
    fields, lineage = survive.golden("cus_1", [a, b])
    assert fields["phones"][0] == "+12025550143"
    assert lineage["phones"]["conflict"] == [{"source": "hubspot", "source_id": "h", "edited_at": "2026-05-01T00:00:00Z"}]
    older = edits.for_survivorship(a, {"edits": {"phones": {"at": "2026-05-01T00:00:00Z", "run": "before"}}}, "r")
    assert "conflict" not in survive.golden("cus_1", [older, b])[1]["phones"]  # synced since: no conflict


def consent(status, at):
    return {"email": {"status": status, "updated_at": at}}


def test_a_restamped_stale_opt_in_never_beats_a_newer_opt_out():
    # Mailchimp restamps last_changed on a name change: the old subscribed looks brand new.
    before = record("mailchimp", "m", "2026-01-01T00:00:00Z", consent=consent("subscribed", "2026-01-01T00:00:00Z"))
    after = record("mailchimp", "m", "2026-06-01T00:00:00Z", consent=consent("subscribed", "2026-06-01T00:00:00Z"))
    state = edits.observe(None, before, after, "r")
    assert state["consent"]["email"] == {"status": "subscribed", "at": "2026-01-01T00:00:00Z"}
    opt_out = record("shopify", "s", "2026-03-01T00:00:00Z", consent=consent("unsubscribed", "2026-03-01T00:00:00Z"))
    fields, _ = golden_consent([edits.for_survivorship(after, state, "r"), opt_out])
    assert fields["email"]["status"] == "unsubscribed"
    assert golden_consent([after, opt_out])[0]["email"]["status"] == "subscribed"  # what the rule prevents


def test_a_consent_concord_wrote_keeps_the_time_of_the_event_it_copied():
    state = edits.wrote(None, {"consent.email.status": "subscribed"},
                        {"email": {"status": "subscribed", "updated_at": "2026-01-01T00:00:00Z"}})
    echo = record("hubspot", "h", "2026-06-01T00:00:00Z", consent=consent("subscribed", "2026-06-01T00:00:00Z"))
    opt_out = record("shopify", "s", "2026-03-01T00:00:00Z", consent=consent("unsubscribed", "2026-03-01T00:00:00Z"))
    assert golden_consent([edits.for_survivorship(echo, state, "r"), opt_out])[0]["email"]["status"] == "unsubscribed"


def test_a_status_given_again_later_takes_its_new_time():
    t0, t1, t2 = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"
    subscribed = record("shopify", "s", t0, consent=consent("subscribed", t0))
    state = edits.wrote(None, {"consent.email.status": "subscribed"}, {"email": {"status": "subscribed", "updated_at": t0}})
    out = record("shopify", "s", t1, consent=consent("unsubscribed", t1))
    state = edits.observe(state, subscribed, out, "r2")
    back = record("shopify", "s", t2, consent=consent("subscribed", t2))
    state = edits.observe(state, out, back, "r3")
    assert edits.for_survivorship(back, state, "r3")["_consent_since"].get("email", {}).get("at") in (None, t2)
