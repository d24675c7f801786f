"""Mailchimp passes the adapter contract against its sandbox, and the sandbox behaves like the
Mailchimp Marketing API where the adapter depends on it: auth and its 401 body, count/offset
paging with since_last_changed, the bare 429, upsert semantics and problem bodies, permanent
deletion and the "forgotten" state it leaves, persistence, and the command line. There is no
Mailchimp spec in ../shared/vendor-specs/, so the shapes checked here follow ../shared/vendor-apis.md."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from adapters import registry
from adapters.base import Change
from adapters.mailchimp import batch as batch_module
from adapters.mailchimp.client import LOOKBACK, MailchimpAdapter, mailchimp_time
from adapters.mailchimp.sandbox import MailchimpSandbox
from adapters.mailchimp.seed import forgotten_emails, from_world_time, subscriber_hash
from adapters.sandbox import Faults
from adapters.testing import Harness, contract_suite, ids_in, read_all
from adapters.watermark import format_ts, parse_ts
from adapters.world import World
from canonical import mapping as mappings
from canonical.sandboxes import endpoint_of

REPO = Path(__file__).resolve().parents[2]
SEED, CUSTOMERS = 3, 150
ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
# Where a member holds what names or reaches the person: all of it must be gone once erased.
PERSONAL = ("email_address", "full_name", "ip_signup", "ip_opt", "merge_fields.FNAME", "merge_fields.LNAME",
            "merge_fields.PHONE", "merge_fields.ADDRESS", "merge_fields.BIRTHDAY")


def start(state_dir, faults=None, **options):
    # A rate limit no test reaches unless it sets one; faults only when a test asks for them.
    options = {"rate_limit": 100_000, **options}
    return MailchimpSandbox(state_dir=state_dir, seed=SEED, customers=CUSTOMERS, faults=faults, **options)


def build(sandbox, max_wait=30.0, page_size=10, **overrides):
    # ~75 members and ~80 report entries: eight pages or more per stream, so that a 30% fault rate
    # hits several of them, yet few enough requests for a client that paces itself at 9 a second.
    return MailchimpAdapter(replace(endpoint_of(sandbox.info()), **overrides), max_wait=max_wait, page_size=page_size)


def session(sandbox) -> requests.Session:
    s = requests.Session()
    s.auth = ("anyone", sandbox.api_key)
    return s


def member_url(sandbox, member_id: str) -> str:
    return f"{sandbox.base_url}/3.0/lists/{sandbox.list_id}/members/{member_id}"


def read_back(sandbox, source_id):
    """The member as the sandbox holds it; None once Mailchimp answers 404 (deleted for good)."""
    response = session(sandbox).get(member_url(sandbox, source_id), timeout=10)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()


def touch(sandbox, source_id):
    member = read_back(sandbox, source_id)
    session(sandbox).put(member_url(sandbox, source_id), timeout=10, json={
        "email_address": member["email_address"], "status_if_new": "transactional",
        "merge_fields": {"FNAME": f"Touched {time.time_ns()}"}}).raise_for_status()


def sample_write(source_id):
    # The patch the mapping's reverse produces, so the write-back path is tested end to end.
    patch = mappings.load("mailchimp").customers.to_source(
        {"given_name": "Ana", "family_name": "Lima", "phones": ["+1 415 555 0134"], "consent.email.status": "pending"})
    return Change(source_id, patch)


def sample_create(key):
    # The mapping's reverse gives the fields; the address is added by hand: it is the member's key,
    # which a create needs and the mapping does not write back (see mappings/mailchimp.yaml).
    patch = mappings.load("mailchimp").customers.to_source(
        {"given_name": "Nova", "family_name": "Reyes", "phones": ["+1 415 555 0199"]})
    return Change(None, {**patch, "email_address": f"{key}@example.org"}, key=key)


def erased(raw):
    return raw is None or not any(mappings.get_path(raw, path) for path in PERSONAL)


def _leaves(data: dict, prefix: str = ""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def written(record, change):
    return all(mappings.get_path(record, path) == value for path, value in _leaves(change.patch))


def expected_ids(sandbox):
    world = World(SEED, CUSTOMERS)
    events = {f"{sandbox.campaign_id}:{a.customer_ref}:{a.attributes['type']}:{from_world_time(a.occurred_at)}"
              for a in world.activities("mailchimp")}
    return {"members": {v.source_id for v in world.views("mailchimp")}, "email_activity": events}


TestMailchimpContract = contract_suite(Harness(
    system="mailchimp",
    start=start,
    build=build,
    touch=touch,
    sample_write=sample_write,
    read_back=read_back,
    written=written,
    future_cursor=lambda: {"high": "2100-01-01T00:00:00.000Z", "seen": {}},
    expected_ids=expected_ids,
    sample_create=sample_create,
    erased=erased,
))


# -- Mailchimp's own behaviour --------------------------------------------------------------------

@pytest.fixture
def sandbox(tmp_path):
    with start(tmp_path / "sandbox") as running:
        yield running


def members_page(sandbox, **params) -> dict:
    response = session(sandbox).get(f"{sandbox.base_url}/3.0/lists/{sandbox.list_id}/members", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def assert_problem(response, status: int, title: str) -> dict:
    body = response.json()
    assert response.status_code == status and body["title"] == title and body["status"] == status
    assert body["type"] == ERRORS_DOC and uuid.UUID(body["instance"]) and body["detail"]
    return body


def put(sandbox, member_id: str, **body) -> requests.Response:
    return session(sandbox).put(member_url(sandbox, member_id), json=body)


def test_the_registry_finds_the_adapter_and_the_mapping_reads_both_streams():
    assert registry.adapter_class("mailchimp") is MailchimpAdapter
    assert set(mappings.load("mailchimp").streams) == set(MailchimpAdapter.streams)


def test_any_user_name_with_the_key_is_let_in_and_anything_else_gets_mailchimps_401(sandbox):
    url = f"{sandbox.base_url}/3.0/ping"
    assert requests.get(url, auth=("whoever", sandbox.api_key)).json() == {"health_status": "Everything's Chimpy!"}
    wrong_dc = sandbox.api_key.rsplit("-", 1)[0] + "-us6"
    for response in (requests.get(url), requests.get(url, auth=("concord", wrong_dc))):
        body = assert_problem(response, 401, "API Key Invalid")
        assert "wrong datacenter" in body["detail"]
    assert sandbox.api_key.endswith("-us21") and len(sandbox.api_key.split("-")[0]) == 32


def test_members_page_by_count_and_offset_oldest_change_first_after_since(sandbox):
    first = members_page(sandbox)
    assert len(first["members"]) == 10 and first["list_id"] == sandbox.list_id  # count defaults to 10
    everyone = members_page(sandbox, count=5000)["members"]  # count is capped at 1000, not refused
    assert len(everyone) == first["total_items"] == len(World(SEED, CUSTOMERS).views("mailchimp"))
    middle = sorted(m["last_changed"] for m in everyone)[len(everyone) // 2]
    since = members_page(sandbox, since_last_changed=middle, count=1000, offset=0)
    stamps = [(m["last_changed"], m["id"]) for m in since["members"]]
    assert stamps == sorted(stamps) and all(stamp > middle for stamp, _ in stamps)  # "after": exclusive
    assert since["total_items"] == sum(m["last_changed"] > middle for m in everyone)
    offset = members_page(sandbox, since_last_changed=middle, count=3, offset=2)["members"]
    assert [m["id"] for m in offset] == [i for _, i in stamps[2:5]]
    member = everyone[0]
    assert member["id"] == subscriber_hash(member["email_address"])
    assert set(member["merge_fields"]) == {"FNAME", "LNAME", "PHONE", "ADDRESS", "BIRTHDAY"}


def test_fields_keeps_only_the_dotted_paths_asked_for(sandbox):
    body = members_page(sandbox, fields="members.id,members.merge_fields.FNAME,total_items", count=2)
    assert set(body) == {"members", "total_items"}
    assert all(set(m) == {"id", "merge_fields"} and set(m["merge_fields"]) == {"FNAME"} for m in body["members"])


def test_over_the_limit_is_a_bare_429_with_a_problem_body(tmp_path):
    with start(tmp_path / "limited", rate_limit=10) as limited:
        s = session(limited)
        answers = [s.get(f"{limited.base_url}/3.0/ping") for _ in range(11)]
    assert [a.status_code for a in answers[:10]] == [200] * 10
    assert_problem(answers[10], 429, "Too Many Requests")
    assert not [h for h in answers[10].headers if "rate" in h.lower() or h.lower() == "retry-after"]


def test_the_throttle_fault_answers_the_same_429(tmp_path):
    with start(tmp_path / "storm", faults=Faults(seed=1, throttle_rate=1.0)) as storm:
        response = session(storm).get(f"{storm.base_url}/3.0/ping")
    assert_problem(response, 429, "Too Many Requests")
    assert "Retry-After" not in response.headers


def test_put_upserts_idempotently_and_creates_only_with_status_if_new(sandbox):
    member = members_page(sandbox, count=1)["members"][0]
    body = {"email_address": member["email_address"], "status_if_new": "subscribed",
            "merge_fields": {"LNAME": "Okafor"}}
    once, twice = put(sandbox, member["id"], **body).json(), put(sandbox, member["id"], **body).json()
    assert once == twice and once["merge_fields"]["LNAME"] == "Okafor"
    assert once["merge_fields"]["FNAME"] == member["merge_fields"]["FNAME"]  # merged, not replaced
    assert once["status"] == member["status"]  # status_if_new does not touch an existing member
    new_email = "New.Person@Example.com"
    missing = put(sandbox, subscriber_hash(new_email), email_address=new_email)
    assert assert_problem(missing, 400, "Invalid Resource")["errors"][0]["field"] == "status_if_new"
    created = put(sandbox, subscriber_hash(new_email), email_address=new_email, status_if_new="pending").json()
    assert created["status"] == "pending" and created["id"] == subscriber_hash(new_email)
    assert members_page(sandbox)["total_items"] == len(World(SEED, CUSTOMERS).views("mailchimp")) + 1


def test_bad_writes_get_mailchimps_problem_bodies(sandbox):
    member = members_page(sandbox, count=1)["members"][0]
    bad = put(sandbox, member["id"], email_address=member["email_address"],
              merge_fields={"BIRTHDAY": "1990-04-01", "NICKNAME": "x", "FNAME": None})
    errors = assert_problem(bad, 400, "Invalid Resource")["errors"]
    assert {e["field"] for e in errors} == {"BIRTHDAY", "NICKNAME", "FNAME"} and all(e["message"] for e in errors)
    other = put(sandbox, member["id"], email_address="someone.else@example.com", status_if_new="subscribed")
    assert assert_problem(other, 400, "Invalid Resource")["errors"][0]["field"] == "email_address"
    broken = session(sandbox).put(member_url(sandbox, member["id"]), data=b"{")
    assert_problem(broken, 400, "JSON Parse Exception")
    assert_problem(session(sandbox).get(member_url(sandbox, "0" * 32)), 404, "Resource Not Found")


def test_forgotten_addresses_and_opted_out_members_are_refused(sandbox):
    email = forgotten_emails(SEED)[0]
    forgotten = put(sandbox, subscriber_hash(email), email_address=email, status_if_new="subscribed")
    assert_problem(forgotten, 400, "Forgotten Email Not Subscribed")
    opted_out = members_page(sandbox, count=1000, fields="members.id,members.email_address,members.status")
    member = next(m for m in opted_out["members"] if m["status"] == "unsubscribed")
    again = put(sandbox, member["id"], email_address=member["email_address"], status="subscribed")
    assert_problem(again, 400, "Member In Compliance State")
    assert put(sandbox, member["id"], email_address=member["email_address"], status="pending").status_code == 200


def test_write_failures_are_results_that_name_the_field_but_not_the_value(sandbox):
    email = forgotten_emails(SEED)[0]
    member_id = sorted(expected_ids(sandbox)["members"])[0]
    results = build(sandbox).write([
        Change(subscriber_hash(email), {"email_address": email, "merge_fields": {"FNAME": "Erased"}}),
        Change(member_id, {"merge_fields": {"BIRTHDAY": "1990-04-01"}}),
        Change("0" * 32, {"merge_fields": {"FNAME": "Nobody"}}),
        Change(member_id, {"merge_fields": {"FNAME": "Ana", "PHONE": None}}),
    ])
    assert [(r.ok, r.retriable) for r in results] == [(False, False)] * 3 + [(True, False)]
    assert "Forgotten Email Not Subscribed" in results[0].reason and "email_address" in results[0].reason
    assert "BIRTHDAY" in results[1].reason and "1990" not in results[1].reason
    assert "404" in results[2].reason
    assert all(email not in (r.reason or "") for r in results)
    assert results[3].record["merge_fields"]["FNAME"] == "Ana" and results[3].record["merge_fields"]["PHONE"] == ""


def test_a_write_or_erasure_that_keeps_failing_is_retriable(tmp_path):
    with start(tmp_path / "down", faults=Faults(seed=2, error_rate=1.0)) as down:
        adapter = build(down, max_wait=1.0)
        [written] = adapter.write([Change("0" * 32, {"merge_fields": {"FNAME": "Ana"}})])
        [erasure] = adapter.erase(["0" * 32])
    for result in (written, erasure):
        assert (result.ok, result.retriable) == (False, True) and "500" in result.reason


def delete_permanent(sandbox, member_id: str, list_id: str | None = None) -> requests.Response:
    return session(sandbox).post(
        f"{sandbox.base_url}/3.0/lists/{list_id or sandbox.list_id}/members/{member_id}/actions/delete-permanent")


def report(sandbox) -> dict[str, dict]:
    """The campaign's email-activity entries by member id."""
    response = session(sandbox).get(f"{sandbox.base_url}/3.0/reports/{sandbox.campaign_id}/email-activity",
                                    params={"count": 1000})
    return {entry["email_id"]: entry for entry in response.json()["emails"]}


def test_permanent_deletion_answers_204_and_the_member_is_gone_for_good(sandbox):
    member = read_back(sandbox, sorted(expected_ids(sandbox)["members"])[0])
    before = members_page(sandbox)["total_items"]
    response = delete_permanent(sandbox, member["id"])
    assert response.status_code == 204 and response.content == b"" and "Content-Type" not in response.headers
    assert_problem(session(sandbox).get(member_url(sandbox, member["id"])), 404, "Resource Not Found")
    assert erased(read_back(sandbox, member["id"])) and not erased(member)  # the harness's check can tell
    everyone = members_page(sandbox, count=1000)
    assert everyone["total_items"] == before - 1 and member["id"] not in {m["id"] for m in everyone["members"]}
    assert_problem(delete_permanent(sandbox, member["id"]), 404, "Resource Not Found")  # nothing left to delete


def test_a_forgotten_address_is_refused_by_every_later_upsert(sandbox):
    member = read_back(sandbox, sorted(expected_ids(sandbox)["members"])[0])
    assert delete_permanent(sandbox, member["id"]).status_code == 204
    for email in (member["email_address"], member["email_address"].upper()):  # the hash ignores case
        again = put(sandbox, member["id"], email_address=email, status_if_new="transactional")
        assert_problem(again, 400, "Forgotten Email Not Subscribed")
    assert read_back(sandbox, member["id"]) is None


def test_permanent_deletion_anonymizes_the_members_report_entries_and_nothing_else(sandbox):
    before = report(sandbox)
    victim = next(email_id for email_id, entry in before.items() if entry["email_address"])
    assert delete_permanent(sandbox, victim).status_code == 204
    after = report(sandbox)
    assert after[victim] == {**before[victim], "email_address": None}  # the events stay, anonymous
    assert {k: v for k, v in after.items() if k != victim} == {k: v for k, v in before.items() if k != victim}


def test_permanent_deletion_in_another_audience_is_a_404_that_deletes_nothing(sandbox):
    member_id = sorted(expected_ids(sandbox)["members"])[0]
    assert_problem(delete_permanent(sandbox, member_id, list_id="0" * 10), 404, "Resource Not Found")
    assert read_back(sandbox, member_id) is not None


def test_erase_is_safe_to_retry_and_tells_nothing_of_the_person(sandbox, caplog):
    caplog.set_level("DEBUG")
    member = read_back(sandbox, sorted(expected_ids(sandbox)["members"])[0])
    adapter = build(sandbox)
    # The second erasure of the member stands for a retry after a lost answer; the last id never existed.
    results = adapter.erase([member["id"], member["id"], "0" * 32])
    assert [(r.source_id, r.ok, r.reason) for r in results] == [(member["id"], True, None), (member["id"], True, None),
                                                                 ("0" * 32, True, None)]
    comeback = Change(None, {"email_address": member["email_address"], "merge_fields": {"FNAME": "Back"}}, key="cus_9")
    [refused] = adapter.write([comeback])
    assert (refused.source_id, refused.ok, refused.retriable) == (member["id"], False, False)
    assert "Forgotten Email Not Subscribed" in refused.reason and "email_address" in refused.reason
    for personal in (member["email_address"], member["merge_fields"]["FNAME"], member["merge_fields"]["LNAME"]):
        assert personal not in refused.reason and personal not in caplog.text


def test_erasing_in_an_audience_that_does_not_exist_fails_instead_of_passing_for_done(sandbox):
    endpoint = endpoint_of(sandbox.info())
    adapter = build(sandbox, extra={**endpoint.extra, "list_id": "0" * 10})
    [result] = adapter.erase([sorted(expected_ids(sandbox)["members"])[0]])
    assert (result.ok, result.retriable) == (False, False) and "404" in result.reason


def test_a_create_is_an_upsert_on_the_address_that_opts_no_one_in(sandbox):
    adapter, change = build(sandbox), sample_create("cus_42")
    [created] = adapter.write([change])
    assert created.ok and created.source_id == created.record["id"] == subscriber_hash(change.patch["email_address"])
    assert created.record["status"] == "transactional" and created.record["merge_fields"]["FNAME"] == "Nova"
    shouted = replace(change, patch={**change.patch, "email_address": change.patch["email_address"].upper()})
    [same] = adapter.write([shouted])
    assert same.ok and same.source_id == created.source_id
    existing = read_back(sandbox, sorted(expected_ids(sandbox)["members"])[0])
    [known] = adapter.write([Change(None, {"email_address": existing["email_address"]}, key="cus_43")])
    assert known.ok and known.source_id == existing["id"]  # an address already there is that member
    assert members_page(sandbox)["total_items"] == len(expected_ids(sandbox)["members"]) + 1


def test_a_create_without_an_address_is_a_result_naming_the_missing_field(sandbox):
    [result] = build(sandbox).write([Change(None, {"merge_fields": {"FNAME": "Ana"}}, key="cus_44")])
    assert (result.source_id, result.ok, result.retriable) == ("", False, False) and "email_address" in result.reason
    assert members_page(sandbox)["total_items"] == len(expected_ids(sandbox)["members"])


def members_by_change() -> list[tuple[str, str]]:
    """(last_changed, id) of every seeded member, in the order the sandbox serves them."""
    return sorted((from_world_time(v.updated_at), v.source_id) for v in World(SEED, CUSTOMERS).views("mailchimp"))


def cursor_before(stamp: str) -> dict:
    """A members cursor whose read starts just before `stamp` (the Watermark reads back LOOKBACK)."""
    return {"high": format_ts(parse_ts(stamp) - timedelta(seconds=1) + LOOKBACK), "seen": {}}


def test_records_tied_on_a_second_straddling_a_page_boundary_all_arrive(sandbox):
    order = members_by_change()
    tied = [i for i in range(1, len(order)) if order[i][0] == order[i - 1][0]]
    assert tied  # the seed has ties, so this test can fail
    start_at = tied[-1] - 2  # pages of two: [before, tie 1] [tie 1, tie 2] ... the tie straddles
    pages, _ = read_all(build(sandbox, page_size=2), "members", cursor_before(order[start_at][0]))
    assert len(pages) > 2
    assert sorted(ids_in("mailchimp", "members", pages)) == sorted(i for _, i in order[start_at:])


def touch_within_one_second(sandbox, member_ids: list[str]) -> str:
    """Changes every member in the same second (a bulk update) and returns that last_changed."""
    for _ in range(5):
        for member_id in member_ids:
            touch(sandbox, member_id)
        stamps = {read_back(sandbox, member_id)["last_changed"] for member_id in member_ids}
        if len(stamps) == 1:
            return stamps.pop()
    raise AssertionError("could not change the members within one second")


def test_records_moving_out_from_behind_the_offset_mid_read_shift_no_record_out(sandbox):
    bulk = sorted(expected_ids(sandbox)["members"])[:6]  # in a tie the sandbox orders by id
    stamp = touch_within_one_second(sandbox, bulk)
    pages = build(sandbox, page_size=3).read("members", cursor_before(stamp))
    first = next(pages)
    assert [m["id"] for m in first.records] == bulk[:3]
    while mailchimp_time(datetime.now(timezone.utc)) == stamp:
        time.sleep(0.05)
    for member_id in bulk[:2]:  # two of the page's records move to a later second: offsets shift by two
        touch(sandbox, member_id)
    ids = ids_in("mailchimp", "members", [first, *pages])
    assert set(ids) == set(bulk) and Counter(ids) == Counter(bulk + bulk[:2])


def test_email_activity_is_one_record_per_event_and_an_unchanged_report_reads_empty(sandbox):
    adapter = build(sandbox)
    pages, cursor = read_all(adapter, "email_activity")
    records = [r for p in pages for r in p.records]
    assert all(p.cursor == {} for p in pages[:-1]) and cursor["high"]
    event = records[0]
    assert event["activity_id"] == f"{event['campaign_id']}:{event['email_id']}:{event['action']}:{event['timestamp']}"
    assert event["action"] in ("open", "click", "bounce") and "activity" not in event
    orphans = {r["email_id"] for r in records} - expected_ids(sandbox)["members"]
    assert orphans  # events of members deleted since: activities whose customer is gone
    assert [r for p in adapter.read("email_activity", cursor) for r in p.records] == []


def test_state_and_key_survive_a_restart_and_a_different_seed_needs_reset(tmp_path):
    with start(tmp_path / "kept") as first:
        key, member_id = first.api_key, sorted(expected_ids(first)["members"])[0]
        [result] = build(first).write([Change(member_id, {"merge_fields": {"LNAME": "Persisted"}})])
        assert result.ok, result.reason
    with start(tmp_path / "kept") as second:
        assert second.api_key == key
        assert read_back(second, member_id)["merge_fields"]["LNAME"] == "Persisted"
    with pytest.raises(ValueError, match="--reset"):
        MailchimpSandbox(state_dir=tmp_path / "kept", seed=SEED + 1, customers=CUSTOMERS)


def test_the_command_line_prints_one_json_line_and_stops_on_sigterm(tmp_path):
    command = [sys.executable, "-m", "adapters.mailchimp.sandbox", "--port", "0", "--seed", "1",
               "--customers", "40", "--state-dir", str(tmp_path)]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            info = json.loads(process.stdout.readline())
            assert {"system", "base_url", "login", "password", "list_id", "campaign_id", "state", "seed",
                    "customers"} <= set(info) and info["system"] == "mailchimp" and info["customers"] == 40
            url = f"{info['base_url']}/3.0/lists/{info['list_id']}/members"
            assert requests.get(url, auth=(info["login"], info["password"]), timeout=5).status_code == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
            assert info["password"] not in process.stderr.read()
        finally:
            process.kill()


def batch(sandbox, members, **options) -> requests.Response:
    return session(sandbox).post(f"{sandbox.base_url}/3.0/lists/{sandbox.list_id}", json={"members": members, **options})


def test_batch_subscribe_needs_a_status_per_member_and_takes_at_most_500(sandbox):
    member = members_page(sandbox, count=1)["members"][0]
    missing = batch(sandbox, [{"email_address": member["email_address"], "merge_fields": {"FNAME": "X"}}],
                    update_existing=True)
    assert assert_problem(missing, 400, "Invalid Resource")["errors"][0]["field"] == "members.item:0.status"
    too_many = batch(sandbox, [{"email_address": f"p{n}@example.com", "status": "transactional"} for n in range(501)])
    assert_problem(too_many, 400, "Invalid Resource")
    assert read_back(sandbox, member["id"])["merge_fields"]["FNAME"] == member["merge_fields"]["FNAME"]


def test_batch_subscribe_fails_members_one_by_one_and_writes_the_others(sandbox):
    members = members_page(sandbox, count=1000)["members"]
    opted_out = next(m for m in members if m["status"] == "unsubscribed")
    kept = next(m for m in members if m["status"] == "subscribed")
    answer = batch(sandbox, [
        {"email_address": kept["email_address"], "status": "subscribed", "merge_fields": {"FNAME": "Kept"}},
        {"email_address": opted_out["email_address"], "status": "subscribed"},
        {"email_address": forgotten_emails(SEED)[0], "status": "transactional"},
        {"email_address": "brand.new@example.com", "status": "transactional"},
    ], update_existing=True).json()
    assert (answer["total_updated"], answer["total_created"], answer["error_count"]) == (1, 1, 2)
    assert answer["updated_members"][0]["merge_fields"]["FNAME"] == "Kept"
    assert {e["email_address"] for e in answer["errors"]} == {opted_out["email_address"], forgotten_emails(SEED)[0]}
    assert read_back(sandbox, opted_out["id"])["status"] == "unsubscribed"
    again = batch(sandbox, [{"email_address": kept["email_address"], "status": "unsubscribed"}]).json()
    assert again["errors"][0]["error_code"] == "ERROR_CONTACT_EXISTS"  # update_existing defaults to false
    assert read_back(sandbox, kept["id"])["status"] == "subscribed"


def test_a_name_change_keeps_each_members_status_in_one_batch(sandbox):
    members = members_page(sandbox, count=1000)["members"]
    changes = [Change(m["id"], {"merge_fields": {"FNAME": f"Renamed{n}"}}) for n, m in enumerate(members)]
    requests_before = sandbox.stats["requests"]
    results = build(sandbox).write(changes)
    # one read of the audience's statuses, one batch: not a request per member
    assert sandbox.stats["requests"] - requests_before == 2
    assert all(r.ok for r in results), [r.reason for r in results if not r.ok]
    for n, member in enumerate(members):
        now = read_back(sandbox, member["id"])
        assert (now["merge_fields"]["FNAME"], now["status"]) == (f"Renamed{n}", member["status"])


def test_a_create_for_an_address_already_there_never_overwrites_its_consent(sandbox):
    subscribed = next(m for m in members_page(sandbox, count=1000)["members"] if m["status"] == "subscribed")
    create = Change(None, {"email_address": subscribed["email_address"], "merge_fields": {"LNAME": "Again"}},
                    key="cus_again")
    [result] = build(sandbox).write([create])
    assert result.ok and result.source_id == subscribed["id"]
    now = read_back(sandbox, subscribed["id"])
    assert (now["status"], now["merge_fields"]["LNAME"]) == ("subscribed", "Again")


def test_a_consent_write_with_its_address_needs_no_lookup(sandbox):
    member = next(m for m in members_page(sandbox, count=1000)["members"] if m["status"] == "subscribed")
    requests_before = sandbox.stats["requests"]
    [result] = build(sandbox).write([Change(member["id"], {"email_address": member["email_address"],
                                                           "status": "unsubscribed"})])
    assert sandbox.stats["requests"] - requests_before == 1
    assert result.ok and read_back(sandbox, member["id"])["status"] == "unsubscribed"


def test_delivery_chunks_share_one_read_of_the_audience(sandbox):
    assert MailchimpAdapter.write_batch % 500 == 0  # whole batch-subscribe requests per write() call
    members = members_page(sandbox, count=1000)["members"]
    changes = [Change(m["id"], {"merge_fields": {"LNAME": f"Chunk{n}"}}) for n, m in enumerate(members)]
    adapter, requests_before = build(sandbox), sandbox.stats["requests"]
    results = [r for start in range(0, len(changes), 25) for r in adapter.write(changes[start:start + 25])]
    calls = -(-len(changes) // 25)
    # one read of the audience for the whole delivery, then one batch per call
    assert sandbox.stats["requests"] - requests_before == 1 + calls
    assert all(r.ok for r in results), [r.reason for r in results if not r.ok]
    for n, member in enumerate(members):
        now = read_back(sandbox, member["id"])
        assert (now["merge_fields"]["LNAME"], now["status"]) == (f"Chunk{n}", member["status"])


def test_statuses_are_read_again_once_they_are_too_old(sandbox):
    members = members_page(sandbox, count=1000)["members"]
    adapter = build(sandbox)
    clock = [0.0]
    adapter.statuses.clock = lambda: clock[0]
    adapter.write([Change(members[0]["id"], {"merge_fields": {"FNAME": "Early"}})])
    before = sandbox.stats["requests"]
    adapter.write([Change(members[1]["id"], {"merge_fields": {"FNAME": "Soon"}})])
    assert sandbox.stats["requests"] - before == 1  # the batch only: the statuses are fresh
    clock[0] += batch_module.MAX_AGE + 1
    changed = next(m for m in members[2:] if m["status"] == "subscribed")
    put(sandbox, changed["id"], email_address=changed["email_address"], status="pending")
    before = sandbox.stats["requests"]
    [result] = adapter.write([Change(changed["id"], {"merge_fields": {"FNAME": "Late"}})])
    assert sandbox.stats["requests"] - before == 2  # the audience read again, then the batch
    assert result.ok and read_back(sandbox, changed["id"])["status"] == "pending"


def test_an_opt_out_after_the_statuses_were_read_is_kept_and_the_name_still_written(sandbox):
    members = members_page(sandbox, count=1000)["members"]
    member = next(m for m in members if m["status"] == "subscribed")
    adapter = build(sandbox)
    [first] = adapter.write([Change(member["id"], {"merge_fields": {"FNAME": "Before"}})])
    assert first.ok
    put(sandbox, member["id"], email_address=member["email_address"], status="unsubscribed")  # meanwhile
    [second] = adapter.write([Change(member["id"], {"merge_fields": {"FNAME": "After"}})])
    assert second.ok, second.reason
    now = read_back(sandbox, member["id"])
    assert (now["status"], now["merge_fields"]["FNAME"]) == ("unsubscribed", "After")


def test_batch_subscribe_sees_its_own_earlier_entries_and_an_unchanged_member_keeps_last_changed(sandbox):
    address = "twice.in.one@example.com"
    answer = batch(sandbox, [{"email_address": address, "status": "transactional"},
                             {"email_address": address.upper(), "status": "subscribed"}]).json()
    assert (answer["total_created"], answer["error_count"]) == (1, 1)
    assert answer["errors"][0]["error_code"] == "ERROR_CONTACT_EXISTS"
    assert read_back(sandbox, subscriber_hash(address))["status"] == "transactional"
    member = members_page(sandbox, count=1)["members"][0]
    same = {"email_address": member["email_address"], "status": member["status"],
            "merge_fields": {"FNAME": member["merge_fields"]["FNAME"]}}
    again = batch(sandbox, [same], update_existing=True).json()
    assert again["updated_members"][0]["last_changed"] == member["last_changed"]
    assert read_back(sandbox, member["id"]) == member


def test_fields_on_members_answer_what_the_whole_page_projected_would(sandbox):
    whole = members_page(sandbox, count=7, offset=3)
    cut = members_page(sandbox, count=7, offset=3, fields="members.id,members.status,members.merge_fields,total_items")
    assert cut == {"members": [{k: m[k] for k in ("id", "status", "merge_fields")} for m in whole["members"]],
                   "total_items": whole["total_items"]}
