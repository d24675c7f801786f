"""Integration tests for the Twilio sandbox and adapter: real HTTP on 127.0.0.1, state in tmp_path.

They pin what the adapter relies on and what real Twilio does (auth and its 20003 body, newest-first
call pages with PageToken and day-granular StartTime filters, Sync's key-ordered item pages,
revisions with If-Match, 409/412/404 bodies, deletes answered 204 without a body, 20429 over the
rate limit, persistence), check real answers against Twilio's published OpenAPI specs, and check the
adapter's incremental passes, its creates (an upsert on the number) and its erasures.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from adapters.base import Change, WriteResult
from adapters.testing import read_all
from adapters.twilio.client import TwilioAdapter
from adapters.twilio.sandbox import TwilioSandbox, twilio_error
from adapters.twilio.seed import SUPPORT_NUMBER, seed
from adapters.world import World
from canonical.sandboxes import endpoint_of

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO.parent / "shared" / "vendor-specs"
SEED, CUSTOMERS = 2, 120
CALLS = "/2010-04-01/Accounts/{}/Calls.json"
NEW_NUMBER = "+12025550250"  # exchange 555 outside 01xx: no person of the world owns it


@pytest.fixture
def start(tmp_path):
    """Start sandboxes on tmp_path (a generous rate limit unless overridden); stop them all afterwards."""
    started: list[TwilioSandbox] = []

    def _start(cls=TwilioSandbox, **overrides) -> TwilioSandbox:
        options = dict(state_dir=tmp_path, seed=SEED, customers=CUSTOMERS, rate_limit=10_000)
        sandbox = cls(**{**options, **overrides}).start()
        started.append(sandbox)
        return sandbox

    yield _start
    for sandbox in started:
        sandbox.stop()


def session(sandbox: TwilioSandbox) -> requests.Session:
    s = requests.Session()
    s.auth = (sandbox.account_sid, sandbox.auth_token)
    return s


def calls_url(sandbox: TwilioSandbox) -> str:
    return sandbox.base_url + CALLS.format(sandbox.account_sid)


def items_url(sandbox: TwilioSandbox, key: str | None = None) -> str:
    url = f"{sandbox.base_url}/v1/Services/{sandbox.service_sid}/Maps/{sandbox.map_sid}/Items"
    return f"{url}/{quote(key, safe='')}" if key else url


def all_calls(sandbox: TwilioSandbox, s: requests.Session, **params) -> tuple[list[dict], list[dict]]:
    """Every call by following next_page_uri; returns the calls and the page bodies."""
    bodies = [s.get(calls_url(sandbox), params=params).json()]
    while bodies[-1]["next_page_uri"]:
        assert len(bodies) < 200, "the call list never ended"
        bodies.append(s.get(sandbox.base_url + bodies[-1]["next_page_uri"]).json())
    return [c for b in bodies for c in b["calls"]], bodies


def all_items(sandbox: TwilioSandbox, s: requests.Session, **params) -> list[dict]:
    body = s.get(items_url(sandbox), params=params).json()
    items = list(body["items"])
    while body["meta"]["next_page_url"]:
        assert len(items) < 10_000, "the item list never ended"
        body = s.get(body["meta"]["next_page_url"]).json()
        items += body["items"]
    return items


def world() -> World:
    return World(SEED, CUSTOMERS)


def adapter(sandbox: TwilioSandbox, page_size: int = 15, **overrides) -> TwilioAdapter:
    return TwilioAdapter(replace(endpoint_of(sandbox.info()), **overrides), max_wait=20.0, page_size=page_size)


def started_at(call: dict) -> datetime:
    return parsedate_to_datetime(call["start_time"])


# -- seed --

def test_seed_is_deterministic_and_follows_the_world():
    first = seed(SEED, CUSTOMERS)
    assert first == seed(SEED, CUSTOMERS) and first != seed(SEED + 1, CUSTOMERS)
    assert [i["key"] for i in first.items] == [v.source_id for v in world().views("twilio")]
    assert all(i["key"].startswith("+") and i["key"][1:].isdigit() for i in first.items)
    assert {c["sid"] for c in first.calls} == {a.source_id for a in world().activities("twilio")}
    assert all(c["direction"] == "inbound" and c["to"] != c["from"] for c in first.calls)
    # A world big enough to hold malformed records: they are served as broken as they are.
    larger = World(SEED, 800).views("twilio")
    broken = [i["data"]["email"] for i, v in zip(seed(SEED, 800).items, larger) if v.malformed == "email"]
    assert broken and all("@" not in email for email in broken)


# -- auth and errors --

def test_requests_without_or_with_wrong_credentials_get_twilio_401(start):
    sandbox = start()
    expected = {"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003",
                "status": 401}
    for auth in (None, (sandbox.account_sid, "not-the-token"), ("AC" + "0" * 32, sandbox.auth_token)):
        response = requests.get(calls_url(sandbox), auth=auth, timeout=10)
        assert (response.status_code, response.json()) == (401, expected)
    assert session(sandbox).get(calls_url(sandbox)).status_code == 200


def test_unknown_paths_other_accounts_and_missing_suffix_get_20404(start):
    sandbox = start()
    s = session(sandbox)
    other_account = sandbox.base_url + CALLS.format("AC" + "f" * 32)
    without_suffix = calls_url(sandbox).removesuffix(".json")
    other_map = f"{sandbox.base_url}/v1/Services/{sandbox.service_sid}/Maps/MP{'0' * 32}/Items"
    for url in (other_account, without_suffix, other_map, items_url(sandbox, "+10000000000")):
        response = s.get(url)
        assert response.status_code == 404
        assert response.json()["code"] == 20404 and response.json()["status"] == 404
    by_name = s.get(f"{sandbox.base_url}/v1/Services/{sandbox.service_sid}/Maps/callers/Items")
    assert by_name.status_code == 200  # a map's unique_name stands for its SID


# -- Voice: the call log --

def test_call_pages_list_every_call_once_newest_first(start):
    sandbox = start()
    calls, bodies = all_calls(sandbox, session(sandbox), PageSize=7)
    sids = [c["sid"] for c in calls]
    assert len(sids) == len(set(sids)) and set(sids) == {c["sid"] for c in seed(SEED, CUSTOMERS).calls}
    starts = [started_at(c) for c in calls]
    assert starts == sorted(starts, reverse=True)
    assert [b["page"] for b in bodies] == list(range(len(bodies)))
    assert [(b["start"], b["end"]) for b in bodies[:2]] == [(0, 6), (7, 13)]
    assert bodies[0]["previous_page_uri"] is None and bodies[-1]["next_page_uri"] is None
    assert all(b["page_size"] == 7 and b["first_page_uri"] == bodies[0]["first_page_uri"] for b in bodies)
    back = session(sandbox).get(sandbox.base_url + bodies[2]["previous_page_uri"]).json()
    assert [c["sid"] for c in back["calls"]] == [c["sid"] for c in bodies[1]["calls"]]


def test_start_time_filters_count_whole_days(start):
    sandbox = start()
    s = session(sandbox)
    calls, _ = all_calls(sandbox, s, PageSize=1000)
    day = started_at(calls[len(calls) // 2]).date()
    on_or_after, _ = all_calls(sandbox, s, **{"StartTime>": day.isoformat(), "PageSize": 1000})
    before, _ = all_calls(sandbox, s, **{"StartTime<": f"{day.isoformat()}T23:59:59Z", "PageSize": 1000})
    on_day, _ = all_calls(sandbox, s, StartTime=day.isoformat())
    assert {c["sid"] for c in on_or_after} == {c["sid"] for c in calls if started_at(c).date() >= day}
    assert {c["sid"] for c in before} == {c["sid"] for c in calls if started_at(c).date() < day}
    assert on_day and all(started_at(c).date() == day for c in on_day)
    bad = s.get(calls_url(sandbox), params={"StartTime>": "last week"})
    assert bad.status_code == 400 and bad.json()["code"] == 20001


def test_from_and_status_filters(start):
    sandbox = start()
    s = session(sandbox)
    calls, _ = all_calls(sandbox, s, PageSize=1000)
    caller = calls[0]["from"]
    mine, _ = all_calls(sandbox, s, From=caller)
    assert mine and {c["sid"] for c in mine} == {c["sid"] for c in calls if c["from"] == caller}
    busy, _ = all_calls(sandbox, s, Status="busy", PageSize=1000)
    assert {c["sid"] for c in busy} == {c["sid"] for c in calls if c["status"] == "busy"}
    assert s.get(calls_url(sandbox), params={"Status": "done"}).status_code == 400
    assert s.get(calls_url(sandbox), params={"PageToken": "PAnot-a-token"}).status_code == 400


def test_a_deleted_call_answers_204_without_a_body_and_is_gone(start):
    sandbox = start()
    s = session(sandbox)
    calls, bodies = all_calls(sandbox, s, PageSize=7)
    victim = bodies[0]["calls"][-1]  # the call that the next page's token names
    deleted = s.delete(sandbox.base_url + victim["uri"])
    assert deleted.status_code == 204 and deleted.content == b"" and "Content-Type" not in deleted.headers
    for response in (s.get(sandbox.base_url + victim["uri"]), s.delete(sandbox.base_url + victim["uri"])):
        assert (response.status_code, response.json()["code"]) == (404, 20404)
    # A read resuming from that token goes on where it was.
    resumed = s.get(sandbox.base_url + bodies[0]["next_page_uri"]).json()
    assert [c["sid"] for c in resumed["calls"]] == [c["sid"] for c in bodies[1]["calls"]]
    left, _ = all_calls(sandbox, s, PageSize=1000)
    assert {c["sid"] for c in left} == {c["sid"] for c in calls} - {victim["sid"]}


def test_page_size_is_clamped_to_the_maximum(start):
    sandbox = start()
    s = session(sandbox)
    assert s.get(calls_url(sandbox), params={"PageSize": 5000}).json()["page_size"] == 1000
    assert s.get(items_url(sandbox), params={"PageSize": 500}).json()["meta"]["page_size"] == 100
    assert s.get(calls_url(sandbox)).json()["page_size"] == 50


# -- Sync: the caller directory --

def test_item_pages_are_ordered_by_key_both_ways(start):
    sandbox = start()
    s = session(sandbox)
    keys = sorted(i["key"] for i in seed(SEED, CUSTOMERS).items)
    assert [i["key"] for i in all_items(sandbox, s, PageSize=9)] == keys
    assert [i["key"] for i in all_items(sandbox, s, PageSize=9, Order="desc")] == keys[::-1]
    assert [i["key"] for i in all_items(sandbox, s, From=keys[5], Bounds="exclusive")] == keys[6:]
    assert [i["key"] for i in all_items(sandbox, s, From=keys[5])] == keys[5:]
    first = s.get(items_url(sandbox), params={"PageSize": 4}).json()
    second = s.get(first["meta"]["next_page_url"]).json()
    back = s.get(second["meta"]["previous_page_url"]).json()
    assert [i["key"] for i in back["items"]] == keys[:4] and first["meta"]["key"] == "items"
    assert s.get(items_url(sandbox), params={"Order": "sideways"}).status_code == 400


def test_create_then_update_moves_revision_and_date_updated(start):
    sandbox = start()
    s = session(sandbox)
    created = s.post(items_url(sandbox), data={"Key": "+14155550134", "Data": json.dumps({"name": "Ana Lima"})})
    assert created.status_code == 201 and created.json()["revision"] == "0"
    assert created.headers["ETag"] == "0"
    again = s.post(items_url(sandbox), data={"Key": "+14155550134", "Data": "{}"})
    assert again.status_code == 409 and again.json()["code"] == 54208
    updated = s.post(items_url(sandbox, "+14155550134"), data={"Data": json.dumps({"name": "Ana"})},
                     headers={"If-Match": "0"})
    assert updated.status_code == 200
    item = updated.json()
    assert (item["revision"], item["data"]) == ("1", {"name": "Ana"})  # Sync replaces data whole
    moved_to = datetime.strptime(item["date_updated"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs(moved_to - datetime.now(timezone.utc)) < timedelta(seconds=5)
    assert s.get(items_url(sandbox, "+14155550134")).json() == item


def test_stale_revision_bad_data_and_missing_items_get_twilio_errors(start):
    sandbox = start()
    s = session(sandbox)
    key = seed(SEED, CUSTOMERS).items[0]["key"]
    stale = s.post(items_url(sandbox, key), data={"Data": "{}"}, headers={"If-Match": "7"})
    assert stale.status_code == 412 and stale.json()["code"] == 54103
    assert s.get(items_url(sandbox, key)).json()["revision"] == "0"  # nothing was written
    not_json = s.post(items_url(sandbox, key), data={"Data": "[1, 2"})
    too_large = s.post(items_url(sandbox, key), data={"Data": json.dumps({"x": "y" * 17_000})})
    missing = s.post(items_url(sandbox, "+10000000000"), data={"Data": "{}"})
    assert [(r.status_code, r.json()["code"]) for r in (not_json, too_large, missing)] == [
        (400, 54008), (400, 54006), (404, 20404)]
    assert set(missing.json()) == {"code", "message", "more_info", "status"}


def test_a_deleted_item_answers_204_without_a_body_and_is_gone(start):
    sandbox = start()
    s = session(sandbox)
    key, other = [i["key"] for i in seed(SEED, CUSTOMERS).items[:2]]
    stale = s.delete(items_url(sandbox, key), headers={"If-Match": "7"})
    assert (stale.status_code, stale.json()["code"]) == (412, 54103)
    deleted = s.delete(items_url(sandbox, key), headers={"If-Match": "0"})
    assert deleted.status_code == 204 and deleted.content == b"" and "Content-Type" not in deleted.headers
    for response in (s.get(items_url(sandbox, key)), s.delete(items_url(sandbox, key))):
        assert (response.status_code, response.json()["code"]) == (404, 20404)
    keys = {i["key"] for i in all_items(sandbox, s, PageSize=100)}
    assert key not in keys and other in keys and len(keys) == len(seed(SEED, CUSTOMERS).items) - 1


def test_an_item_with_a_ttl_expires(start):
    sandbox = start()
    s = session(sandbox)
    s.post(items_url(sandbox), data={"Key": "+14155550177", "Data": "{}", "ItemTtl": "1"}).raise_for_status()
    assert s.get(items_url(sandbox, "+14155550177")).json()["date_expires"]
    time.sleep(1.6)
    assert s.get(items_url(sandbox, "+14155550177")).status_code == 404
    assert "+14155550177" not in {i["key"] for i in all_items(sandbox, s, PageSize=100)}


# -- rate limit and faults --

def test_over_the_rate_limit_twilio_answers_20429(start):
    sandbox = start(rate_limit=3)
    s = session(sandbox)
    assert [s.get(calls_url(sandbox)).status_code for _ in range(3)] == [200, 200, 200]
    limited = s.get(calls_url(sandbox))
    assert limited.status_code == 429 and "Retry-After" not in limited.headers
    assert limited.json() == {"code": 20429, "message": "Too Many Requests",
                              "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}
    time.sleep(1.05)  # the window is one second
    assert s.get(calls_url(sandbox)).status_code == 200


def test_injected_faults_answer_in_twilio_shape_without_acting(start):
    sandbox = start()
    s = session(sandbox)
    key = seed(SEED, CUSTOMERS).items[0]["key"]
    sandbox.faults.error_rate = 1.0
    failed = s.post(items_url(sandbox, key), data={"Data": "{}"})
    assert failed.status_code == 500 and failed.json()["code"] == 20500
    sandbox.faults.error_rate, sandbox.faults.throttle_rate = 0.0, 1.0
    assert s.get(calls_url(sandbox)).json()["code"] == 20429
    sandbox.faults.throttle_rate = 0.0
    assert s.get(items_url(sandbox, key)).json()["revision"] == "0"


# -- persistence and the command line --

def test_state_sids_and_token_survive_a_restart(start):
    first = start()
    key = seed(SEED, CUSTOMERS).items[3]["key"]
    session(first).post(items_url(first, key), data={"Data": json.dumps({"name": "Kept"})}).raise_for_status()
    before = first.info()
    first.stop()
    second = start()
    after = second.info()
    assert {k: after[k] for k in ("login", "password", "service_sid", "map_sid")} == \
           {k: before[k] for k in ("login", "password", "service_sid", "map_sid")}
    assert session(second).get(items_url(second, key)).json()["data"] == {"name": "Kept"}


def test_seed_mismatch_raises_unless_reset(start, tmp_path):
    start().stop()
    with pytest.raises(ValueError, match="pass --reset"):
        TwilioSandbox(state_dir=tmp_path, seed=SEED + 1, customers=CUSTOMERS)
    assert start(seed=SEED + 1, reset=True).info()["seed"] == SEED + 1


def test_main_prints_one_json_line_and_stops_on_sigterm(tmp_path):
    command = [sys.executable, "-m", "adapters.twilio.sandbox", "--port", "0", "--seed", "1",
               "--customers", "30", "--state-dir", str(tmp_path)]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            info = json.loads(process.stdout.readline())
            assert set(info) == {"system", "base_url", "login", "password", "account_sid", "service_sid",
                                 "map_sid", "state", "seed", "customers"}
            assert info["login"] == info["account_sid"] and info["account_sid"].startswith("AC")
            url = info["base_url"] + CALLS.format(info["account_sid"])
            assert requests.get(url, auth=(info["login"], info["password"]), timeout=5).status_code == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
            assert info["password"] not in process.stderr.read()
        finally:
            process.kill()


# -- answers as Twilio's OpenAPI specs describe them --

def response_schema(spec_file: str, path: str) -> OAS30Validator:
    spec = json.loads((SPECS / spec_file).read_text())
    schema = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    # The response schemas refer to #/components/...: give them the spec's components to resolve.
    return OAS30Validator({**schema, "components": spec["components"]}, format_checker=oas30_format_checker)


def assert_valid(validator: OAS30Validator, body: dict) -> None:
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, errors


def test_deletes_answer_the_status_the_specs_give(start):
    sandbox = start()
    s = session(sandbox)
    item = s.delete(items_url(sandbox, seed(SEED, CUSTOMERS).items[0]["key"]))
    call = s.delete(sandbox.base_url + s.get(calls_url(sandbox)).json()["calls"][0]["uri"])
    for spec_file, path, response in (
            ("twilio_sync_v1.json", "/v1/Services/{ServiceSid}/Maps/{MapSid}/Items/{Key}", item),
            ("twilio_api_v2010.json", "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json", call)):
        answers = json.loads((SPECS / spec_file).read_text())["paths"][path]["delete"]["responses"]
        assert str(response.status_code) in answers and "content" not in answers[str(response.status_code)]


def test_call_answers_match_the_v2010_spec(start):
    sandbox = start()
    s = session(sandbox)
    page = s.get(calls_url(sandbox), params={"PageSize": 5}).json()
    assert_valid(response_schema("twilio_api_v2010.json", "/2010-04-01/Accounts/{AccountSid}/Calls.json"), page)
    call = s.get(sandbox.base_url + page["calls"][0]["uri"]).json()
    validator = response_schema("twilio_api_v2010.json", "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json")
    assert_valid(validator, call)
    assert set(call) == set(validator.schema["components"]["schemas"]["api.v2010.account.call"]["properties"])
    assert not validator.is_valid({**call, "duration": 60})  # the check can fail: duration is a string


def test_map_item_answers_match_the_sync_spec(start):
    sandbox = start()
    s = session(sandbox)
    page = s.get(items_url(sandbox), params={"PageSize": 5}).json()
    assert_valid(response_schema("twilio_sync_v1.json", "/v1/Services/{ServiceSid}/Maps/{MapSid}/Items"), page)
    validator = response_schema("twilio_sync_v1.json", "/v1/Services/{ServiceSid}/Maps/{MapSid}/Items/{Key}")
    item = s.get(page["items"][0]["url"]).json()
    assert_valid(validator, item)
    properties = validator.schema["components"]["schemas"]["sync.v1.service.sync_map.sync_map_item"]["properties"]
    assert set(item) == set(properties)
    assert not validator.is_valid({**item, "date_updated": "yesterday"})


# -- the adapter's passes and writes --

def test_calls_read_again_returns_only_new_calls_and_keeps_a_small_cursor(start):
    sandbox = start()
    reader = adapter(sandbox)
    pages, cursor = read_all(reader, "calls")
    assert len(pages) > 3 and cursor["seen"] == {}  # every seeded call is older than the lookback
    fresh = sandbox.record_call("+14155550134", duration=30)
    again, cursor = read_all(reader, "calls", cursor)
    assert [c["sid"] for p in again for c in p.records] == [fresh["sid"]]
    assert list(cursor["seen"]) == [fresh["sid"]]
    assert read_all(reader, "calls", cursor)[0][-1].records == []


def test_a_call_on_the_filter_day_but_behind_the_lookback_is_not_delivered_twice(start):
    sandbox = start()
    now = datetime.now(timezone.utc)
    # StartTime> counts whole days: the next read asks from yesterday's midnight and gets this call
    # back, although it is older than the cursor's one day of lookback and no longer in its memory.
    yesterday = datetime.combine((now - timedelta(days=1)).date(), datetime.min.time(), timezone.utc)
    early = sandbox.record_call("+14155550134", started=yesterday + timedelta(minutes=1), duration=60)
    reader = adapter(sandbox)
    first, cursor = read_all(reader, "calls")
    assert early["sid"] in {c["sid"] for p in first for c in p.records}
    assert [c["sid"] for p in read_all(reader, "calls", cursor)[0] for c in p.records] == []


def test_two_changes_to_one_caller_within_one_second_are_both_delivered(start):
    sandbox = start()
    s, reader = session(sandbox), adapter(sandbox)
    key = seed(SEED, CUSTOMERS).items[2]["key"]
    _, cursor = read_all(reader, "callers")
    for _ in range(5):  # until both writes land in one second of date_updated
        one = s.post(items_url(sandbox, key), data={"Data": json.dumps({"name": "One"})}).json()
        pages, after_one = read_all(reader, "callers", cursor)
        two = s.post(items_url(sandbox, key), data={"Data": json.dumps({"name": "Two"})}).json()
        if one["date_updated"] == two["date_updated"]:
            break
    assert [r["data"]["name"] for p in pages for r in p.records] == ["One"]
    assert [r["data"]["name"] for p in read_all(reader, "callers", after_one)[0] for r in p.records] == ["Two"]


@pytest.mark.parametrize("stream", ["callers", "calls"])
def test_a_pass_resumes_from_any_page_without_loss_or_duplicates(start, stream):
    sandbox = start()
    reader = adapter(sandbox, page_size=10)
    full = read_all(reader, stream)[0]
    for stop in (0, len(full) // 2):
        head = full[: stop + 1]
        tail = read_all(reader, stream, head[-1].cursor)[0]
        ids = [json.dumps(r, sort_keys=True) for p in head + tail for r in p.records]
        assert len(ids) == len(set(ids)) and len(ids) == sum(len(p.records) for p in full)


def test_a_quiet_map_costs_one_pass_and_hands_over_one_empty_page(start):
    sandbox = start()
    reader = adapter(sandbox, page_size=10)
    _, cursor = read_all(reader, "callers")
    pages, _ = read_all(reader, "callers", cursor)
    assert [p.records for p in pages] == [[]]


def test_a_write_merges_into_data_and_a_repeat_is_a_no_op(start):
    sandbox = start()
    key = seed(SEED, CUSTOMERS).items[0]["key"]
    before = session(sandbox).get(items_url(sandbox, key)).json()
    change = Change(key, {"data": {"name": "Ana Lima", "concord_customer_id": "cus_1"}})
    [result] = adapter(sandbox).write([change])
    assert result.ok and result.record["revision"] == "1"
    assert result.record["data"] == {**before["data"], "name": "Ana Lima", "concord_customer_id": "cus_1"}
    [repeat] = adapter(sandbox).write([change])
    assert repeat.ok and repeat.record["revision"] == "1"


class RacingSandbox(TwilioSandbox):
    """Another agent updates the item between the adapter's read and its first write."""

    raced = False

    def _update_item(self, request, service_sid, map_sid, key):
        if not self.raced:
            self.raced = True
            other = replace(request, headers={}, body=b"Data=" + quote(json.dumps({"name": "Other"})).encode())
            super()._update_item(other, service_sid, map_sid, key)
        return super()._update_item(request, service_sid, map_sid, key)


def test_a_revision_conflict_is_read_again_merged_again_and_retried_once(start):
    sandbox = start(cls=RacingSandbox)
    key = seed(SEED, CUSTOMERS).items[0]["key"]
    [result] = adapter(sandbox).write([Change(key, {"data": {"concord_customer_id": "cus_9"}})])
    assert sandbox.raced and result.ok
    assert result.record["data"] == {"name": "Other", "concord_customer_id": "cus_9"}
    assert sandbox.stats["412"] == 1


def test_failed_writes_say_why_without_the_values(start):
    sandbox = start()
    keys = [i["key"] for i in seed(SEED, CUSTOMERS).items[:2]]
    secret_value = "x" * 17_000
    changes = [Change("+10000000000", {"data": {"name": "Nobody"}}),
               Change(keys[0], {"data": {"name": secret_value}}),
               Change(keys[1], {"key": "+19999999999"}),
               Change(keys[1], {"data": {"name": "Fine"}})]
    missing, too_large, not_writable, fine = adapter(sandbox).write(changes)
    assert (missing.ok, missing.retriable) == (False, False) and "20404" in missing.reason
    assert "0000000000" not in missing.reason  # Twilio's 20404 message quotes the path, number and all
    assert not too_large.ok and "data" in too_large.reason and "54006" in too_large.reason
    assert secret_value not in too_large.reason
    assert not not_writable.ok and "key" in not_writable.reason and "+19999999999" not in not_writable.reason
    assert fine.ok and fine.record["data"]["name"] == "Fine"


# -- the adapter's creates: an upsert on the number --

def new_caller(customer_id: str = "cus_new", number: str = NEW_NUMBER, **data) -> Change:
    return Change(None, {"key": number, "data": {"name": "Ana Lima", **data}}, key=customer_id)


def entries_of(sandbox: TwilioSandbox, number: str) -> int:
    return [i["key"] for i in all_items(sandbox, session(sandbox), PageSize=100)].count(number)


def test_a_create_makes_the_caller_and_a_repeat_changes_nothing(start):
    sandbox = start()
    [first], [again] = adapter(sandbox).write([new_caller()]), adapter(sandbox).write([new_caller()])
    assert first.ok and (first.source_id, again.source_id) == (NEW_NUMBER, NEW_NUMBER)
    assert first.record["data"] == {"name": "Ana Lima", "concord_customer_id": "cus_new"}
    assert again.ok and again.record["revision"] == first.record["revision"] == "0"
    assert (sandbox.stats["201"], sandbox.stats["409"]) == (1, 1) and entries_of(sandbox, NEW_NUMBER) == 1


class LossySandbox(TwilioSandbox):
    """Commits the first create, then loses its answer (a 500, as a gateway that timed out sends)."""

    lost = False

    def _create_item(self, request, service_sid, map_sid):
        answer = super()._create_item(request, service_sid, map_sid)
        if not self.lost:
            self.lost = True
            raise twilio_error(500, 20500, "An internal server error has occurred")
        return answer


def test_a_create_whose_answer_was_lost_is_retried_into_one_record(start):
    sandbox = start(cls=LossySandbox)
    [result] = adapter(sandbox).write([new_caller()])
    assert sandbox.lost and result.ok and result.source_id == NEW_NUMBER
    assert sandbox.stats["409"] == 1 and result.record["revision"] == "0"
    assert entries_of(sandbox, NEW_NUMBER) == 1


def test_a_create_merges_into_an_unclaimed_entry_and_leaves_another_customers_alone(start):
    sandbox = start()
    s = session(sandbox)
    unclaimed, claimed = [i for i in seed(SEED, CUSTOMERS).items[:2]]
    held = {"name": "Held", "concord_customer_id": "cus_a"}
    s.post(items_url(sandbox, claimed["key"]), data={"Data": json.dumps(held)}).raise_for_status()
    merged, taken = adapter(sandbox).write([new_caller("cus_b", unclaimed["key"]),
                                            new_caller("cus_c", claimed["key"])])
    assert merged.ok and merged.record["data"] == {**unclaimed["data"], "name": "Ana Lima",
                                                   "concord_customer_id": "cus_b"}
    assert (taken.ok, taken.retriable, taken.source_id) == (False, False, claimed["key"])
    assert "54208" in taken.reason and claimed["key"][2:] not in taken.reason
    assert s.get(items_url(sandbox, claimed["key"])).json()["data"] == held


def test_a_create_without_a_usable_number_is_refused_without_the_values(start):
    sandbox = start()
    changes = [Change(None, {"data": {"name": "No Number"}}, key="cus_1"),
               new_caller(number="0415 555 0134"),
               Change(None, {"key": NEW_NUMBER, "data": {}, "date_created": "2020-01-02T03:04:05Z"})]
    results = adapter(sandbox).write(changes)
    assert [(r.ok, r.retriable, r.source_id) for r in results] == [(False, False, "")] * 3
    assert "E.164" in results[0].reason and "E.164" in results[1].reason and "date_created" in results[2].reason
    assert not any(value in r.reason for r in results for value in ("No Number", "0134", "2020"))
    assert sandbox.stats["requests"] == 0


# -- the adapter's erasures --

def record_outbound_call(sandbox: TwilioSandbox, number: str) -> str:
    """A call from the support line to the number: the number is in `to`, not `from`."""
    placed = sandbox.record_call(SUPPORT_NUMBER)
    body = {**placed, "from": SUPPORT_NUMBER, "to": number, "direction": "outbound-api"}
    with sandbox.lock, sandbox.state.db:
        sandbox.state.db.execute("UPDATE calls SET from_number = ?, to_number = ?, body = ? WHERE sid = ?",
                                 (SUPPORT_NUMBER, number, json.dumps(body), placed["sid"]))
    return placed["sid"]


def test_erase_deletes_the_caller_and_every_call_of_the_number_and_is_safe_to_repeat(start):
    sandbox = start()
    s = session(sandbox)
    calls, _ = all_calls(sandbox, s, PageSize=1000)
    items = seed(SEED, CUSTOMERS).items
    victim = next(i["key"] for i in items if i["key"] in {c["from"] for c in calls})
    outbound = record_outbound_call(sandbox, victim)
    [result] = adapter(sandbox).erase([victim])
    assert result == WriteResult(victim, ok=True)
    assert s.get(items_url(sandbox, victim)).status_code == 404
    left, _ = all_calls(sandbox, s, PageSize=1000)
    assert {c["sid"] for c in left} == {c["sid"] for c in calls if c["from"] != victim}
    assert outbound not in {c["sid"] for c in left}
    assert len(all_items(sandbox, s, PageSize=100)) == len(items) - 1
    again, never = adapter(sandbox).erase([victim, NEW_NUMBER])
    assert (again, never) == (WriteResult(victim, ok=True), WriteResult(NEW_NUMBER, ok=True))


def test_a_failed_erasure_says_why_without_the_number_and_deletes_nothing(start):
    sandbox = start()
    s = session(sandbox)
    victim = seed(SEED, CUSTOMERS).items[0]["key"]
    info = sandbox.info()
    wrong_map = adapter(sandbox, extra={**endpoint_of(info).extra, "map_sid": "MP" + "0" * 32})
    [lost] = wrong_map.erase([victim])
    assert (lost.ok, lost.retriable) == (False, False) and "20404" in lost.reason
    sandbox.faults.error_rate = 1.0
    [interrupted] = TwilioAdapter(endpoint_of(info), max_wait=0.5).erase([victim])
    sandbox.faults.error_rate = 0.0
    assert (interrupted.ok, interrupted.retriable) == (False, True)
    assert not any(victim[-4:] in r.reason for r in (lost, interrupted))
    assert s.get(items_url(sandbox, victim)).status_code == 200
