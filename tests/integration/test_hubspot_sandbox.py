"""Integration tests for the HubSpot sandbox and adapter: real HTTP on 127.0.0.1, state in tmp_path.

They pin what the adapter relies on (bearer auth, list and search paging and the 10,000-result
cap, batch upsert's 200/207 and unordered results, subscription statuses, rate-limit headers and
429 bodies, persistence, the CLI line) and check the sandbox's answers against HubSpot's published
OpenAPI specs (answers strictly, the adapter's requests leniently), so that the sandbox cannot drift
away from what HubSpot does.
"""
from __future__ import annotations

import copy
import json
import logging
import signal
import subprocess
import sys
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from openapi_schema_validator import OAS30Validator

from adapters.base import Change
from adapters.hubspot.client import HubSpotAdapter
from adapters.hubspot.sandbox import HubSpotSandbox
from adapters.hubspot.seed import seed
from adapters.sandbox import Faults
from adapters.world import World
from canonical.sandboxes import endpoint_of

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO.parent / "shared" / "vendor-specs"
CONTACTS_SPEC, CONSENT_SPEC = "hubspot_crm_contacts_v3.json", "hubspot_communication_preferences_v3.json"
PEOPLE = 40
CONTACTS, SEARCH = "/crm/v3/objects/contacts", "/crm/v3/objects/contacts/search"
UPSERT, EVENTS = "/crm/v3/objects/contacts/batch/upsert", "/email/public/v1/events"
STATUS, SUBSCRIBE = "/communication-preferences/v3/status/email/", "/communication-preferences/v3/subscribe"
RATE_HEADERS = ("X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Daily-Remaining",
                "X-HubSpot-RateLimit-Interval-Milliseconds", "X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining")


# -- HubSpot's published specs --

@lru_cache(maxsize=None)
def _components(spec: str, lenient: bool) -> dict:
    components = copy.deepcopy(json.loads((SPECS / spec).read_text())["components"])
    schemas = components["schemas"]
    # HubSpot answers null for a requested property that has no value; the published spec forgets to say so.
    for name in ("SimplePublicObject", "SimplePublicObjectWithAssociations", "SimplePublicUpsertObject"):
        if name in schemas:
            schemas[name]["properties"]["properties"]["additionalProperties"]["nullable"] = True
    if lenient:
        # The spec marks after, limit, properties and sorts required on a search; real clients omit them.
        # It also types a sort as a string, where HubSpot's search guide sends {propertyName, direction}.
        search = schemas["PublicObjectSearchRequest"]
        search.pop("required")
        search["properties"]["sorts"]["items"] = {"oneOf": [{"type": "string"}, {
            "type": "object", "required": ["propertyName"], "additionalProperties": False, "properties": {
                "propertyName": {"type": "string"}, "direction": {"enum": ["ASCENDING", "DESCENDING"]}}}]}
    return components


def conforms(body, schema: str, spec: str = CONTACTS_SPEC, lenient: bool = False) -> None:
    root = {"$ref": f"#/components/schemas/{schema}", "components": _components(spec, lenient)}
    OAS30Validator(root, format_checker=OAS30Validator.FORMAT_CHECKER).validate(body)


# -- fixtures and helpers --

@pytest.fixture
def start(tmp_path):
    """Start sandboxes on tmp_path (generous limits unless overridden); stop them all afterwards."""
    started: list[HubSpotSandbox] = []

    def _start(**overrides) -> HubSpotSandbox:
        options = dict(state_dir=tmp_path / "state", seed=3, customers=PEOPLE, rate_limit=10_000,
                       search_rate_limit=10_000)
        sandbox = HubSpotSandbox(**{**options, **overrides}).start()
        started.append(sandbox)
        return sandbox

    yield _start
    for sandbox in started:
        sandbox.stop()


def client(sandbox: HubSpotSandbox) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sandbox.token}"
    return session


def adapter(sandbox: HubSpotSandbox, page_size: int = 5, **overrides) -> HubSpotAdapter:
    return HubSpotAdapter(replace(endpoint_of(sandbox.info()), **overrides), max_wait=20, page_size=page_size)


def read_ids(adapter_: HubSpotAdapter, stream: str, cursor=None) -> tuple[list[str], dict]:
    pages = list(adapter_.read(stream, cursor))
    return [r["id"] for p in pages for r in p.records], (pages[-1].cursor if pages else cursor)


def contact_ids(sandbox: HubSpotSandbox) -> list[str]:
    return sorted((v.source_id for v in World(sandbox.seed, sandbox.customers).views("hubspot")), key=int)


def with_email(sandbox: HubSpotSandbox) -> list[tuple[str, str]]:
    views = World(sandbox.seed, sandbox.customers).views("hubspot")
    return [(v.source_id, v.email.strip()) for v in views if v.email and v.malformed != "email"]


def recorded_requests(adapter_: HubSpotAdapter) -> list[requests.PreparedRequest]:
    """Every request the adapter sends, through requests' own response hook on its session."""
    sent: list[requests.PreparedRequest] = []
    adapter_.http.session.hooks["response"].append(lambda response, **_: sent.append(response.request))
    return sent


# -- seed --

def test_seed_is_deterministic_and_keeps_hubspot_shapes_and_broken_values():
    data = seed(5, 400)
    assert data == seed(5, 400)
    views = World(5, 400).views("hubspot")
    assert [c["id"] for c in data.contacts] == [v.source_id for v in views]
    assert all(isinstance(v, str) or v is None for c in data.contacts for v in c["properties"].values())
    assert all(c["updatedAt"].endswith(".000Z") and c["properties"]["hs_object_id"] == c["id"] for c in data.contacts)
    held = {c["id"]: c["properties"] for c in data.contacts}
    broken = [v for v in views if v.malformed]
    assert broken and all(held[v.source_id][v.malformed] == getattr(v, v.malformed) for v in broken)
    assert {status for _, status, _ in data.subscriptions} == {"SUBSCRIBED", "NOT_SUBSCRIBED"}
    assert all(e["recipient"] == e["recipient"].strip().lower() and "@" in e["recipient"] for e in data.events)


# -- auth and errors --

def test_requests_without_or_with_a_wrong_token_get_hubspots_401(start):
    sandbox = start()
    url = sandbox.base_url + CONTACTS
    for response in (requests.get(url), requests.get(url, headers={"Authorization": "Bearer not-the-token"})):
        assert response.status_code == 401
        body = response.json()
        assert body["category"] == "INVALID_AUTHENTICATION" and body["status"] == "error"
        assert body["message"].startswith("Authentication credentials not found.")
        conforms(body, "Error")
    assert client(sandbox).get(url).status_code == 200


def test_bad_input_gets_hubspots_error_body(start):
    sandbox = start()
    session = client(sandbox)
    for response in (session.post(sandbox.base_url + SEARCH, data=b"{"), session.get(sandbox.base_url + CONTACTS,
                                                                                    params={"limit": 101})):
        assert response.status_code == 400 and response.json()["category"] == "VALIDATION_ERROR"
        conforms(response.json(), "Error")
    missing = session.get(f"{sandbox.base_url}{CONTACTS}/99999999")
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"


# -- reads --

def test_list_pages_by_after_and_returns_only_requested_properties(start):
    sandbox = start()
    session = client(sandbox)
    params, seen = {"limit": 4, "properties": "email,firstname"}, []
    body = session.get(sandbox.base_url + CONTACTS, params=params).json()
    while True:
        conforms(body, "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging")
        seen += [c["id"] for c in body["results"]]
        assert all(set(c["properties"]) == {"email", "firstname", "createdate", "hs_object_id", "lastmodifieddate"}
                   for c in body["results"])
        if "paging" not in body:
            break
        body = session.get(body["paging"]["next"]["link"]).json()
    assert seen == contact_ids(sandbox)


def test_search_filters_sorts_counts_and_refuses_paging_past_the_cap(start):
    sandbox = start(search_result_cap=6)
    session = client(sandbox)
    everything = session.post(sandbox.base_url + SEARCH, json={"limit": 200}).json()
    stamps = sorted(c["updatedAt"] for c in everything["results"])
    since = {"propertyName": "lastmodifieddate", "operator": "GTE", "value": stamps[5]}
    query = {"limit": 3, "after": "3", "properties": ["email"], "filterGroups": [{"filters": [since]}],
             "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]}
    matching = [stamp for stamp in stamps if stamp >= stamps[5]]
    body = session.post(sandbox.base_url + SEARCH, json=query).json()
    conforms(body, "CollectionResponseWithTotalSimplePublicObject")
    assert body["total"] == len(matching) and body["paging"]["next"]["after"] == "6"
    assert [c["updatedAt"] for c in body["results"]] == matching[3:6]
    capped = session.post(sandbox.base_url + SEARCH, json={**query, "after": "6"})
    assert capped.status_code == 400 and capped.json()["category"] == "VALIDATION_ERROR"
    assert session.post(sandbox.base_url + SEARCH, json={"limit": 201}).status_code == 400


def test_adapter_reads_past_the_search_cap_by_moving_the_window(start):
    sandbox = start(search_result_cap=6)
    reader = adapter(sandbox, page_size=4)
    sent = recorded_requests(reader)
    ids, _ = read_ids(reader, "contacts")
    assert sorted(ids, key=int) == contact_ids(sandbox)
    searches = [json.loads(r.body) for r in sent if r.path_url == SEARCH]
    assert len(searches) > 2 and all("after" not in s for s in searches)
    for search in searches:
        conforms(search, "PublicObjectSearchRequest", lenient=True)


@pytest.mark.timeout(20)  # without its tie handling the adapter would ask for the same page forever
def test_a_batch_sharing_one_timestamp_larger_than_a_page_is_read_once(start):
    sandbox = start()
    reader = adapter(sandbox, page_size=4)
    _, cursor = read_ids(reader, "contacts")
    ids = contact_ids(sandbox)[:11]
    inputs = [{"id": i, "properties": {"lastname": "Batch"}} for i in ids]
    assert client(sandbox).post(sandbox.base_url + UPSERT, json={"inputs": inputs}).status_code == 200
    changed, _ = read_ids(reader, "contacts", cursor)
    assert sorted(changed, key=int) == ids


def test_a_contact_changed_during_a_read_is_delivered_again_and_none_is_lost(start):
    sandbox = start()
    pages = adapter(sandbox, page_size=4).read("contacts", None)
    first = [r["id"] for r in next(pages).records]
    unread = next(i for i in contact_ids(sandbox) if i not in first)
    for contact_id in (first[0], unread):
        client(sandbox).patch(f"{sandbox.base_url}{CONTACTS}/{contact_id}", json={"properties": {"city": "Moved"}})
    rest = [r["id"] for page in pages for r in page.records]
    assert sorted(set(first + rest), key=int) == contact_ids(sandbox)
    assert first[0] in rest and rest.count(unread) == 1


def test_adapter_attaches_the_subscription_status_of_each_delivered_contact(start):
    sandbox = start()
    records = [r for p in adapter(sandbox).read("contacts", None) for r in p.records]
    held = {r["id"]: r.get("emailSubscription") for r in records}
    for contact_id, address in with_email(sandbox):
        status = client(sandbox).get(sandbox.base_url + STATUS + quote(address, safe="")).json()
        conforms(status, "PublicSubscriptionStatusesResponse", CONSENT_SPEC)
        assert held[contact_id] == status["subscriptionStatuses"][0]
    assert all(held[i] is None for i in contact_ids(sandbox) if i not in dict(with_email(sandbox)))


def test_email_events_page_by_offset_and_resume_from_the_cursor(start):
    sandbox = start()
    session = client(sandbox)
    body = session.get(sandbox.base_url + EVENTS, params={"limit": 5}).json()
    events = list(body["events"])
    while body["hasMore"]:
        body = session.get(sandbox.base_url + EVENTS, params={"limit": 5, "offset": body["offset"]}).json()
        events += body["events"]
    assert body["offset"] and [e["created"] for e in events] == sorted(e["created"] for e in events)
    ids, cursor = read_ids(adapter(sandbox), "email_events")
    assert ids == [e["id"] for e in events]
    assert read_ids(adapter(sandbox), "email_events", cursor)[0] == []
    late = session.get(sandbox.base_url + EVENTS, params={"startTimestamp": events[-1]["created"]}).json()
    assert [e["id"] for e in late["events"]] == [e["id"] for e in events if e["created"] == events[-1]["created"]]


# -- writes --

def test_batch_upsert_answers_200_then_207_with_errors_and_results_matched_by_id(start):
    sandbox = start()
    session = client(sandbox)
    first, second, third = contact_ids(sandbox)[-3:]
    ok = session.post(sandbox.base_url + UPSERT, json={"inputs": [
        {"id": third, "idProperty": "hs_object_id", "properties": {"concord_customer_id": "cus_3"}},
        {"id": first, "properties": {"concord_customer_id": "cus_1"}}]})
    assert ok.status_code == 200 and [r["id"] for r in ok.json()["results"]] == [first, third]
    conforms(ok.json(), "BatchResponseSimplePublicUpsertObject")
    mixed = session.post(sandbox.base_url + UPSERT, json={"inputs": [
        {"id": first, "properties": {"email": "ana.lima(at)example.com"}},
        {"id": "99999999", "properties": {"firstname": "Nobody"}},
        {"id": second, "properties": {"firstname": "Bea"}}]})
    assert mixed.status_code == 207
    body = mixed.json()
    conforms(body, "BatchResponseSimplePublicUpsertObjectWithErrors")
    assert body["numErrors"] == 2 and [r["id"] for r in body["results"]] == [second]
    assert sorted(i for e in body["errors"] for i in e["context"]["ids"]) == sorted([first, "99999999"])
    for bad in ([{"id": first, "properties": {}}] * 2, [{"id": str(n), "properties": {}} for n in range(101)]):
        refused = session.post(sandbox.base_url + UPSERT, json={"inputs": bad})
        assert refused.status_code == 400 and refused.json()["category"] == "VALIDATION_ERROR"


def test_patch_moves_lastmodifieddate_only_on_a_real_change_and_empty_clears(start):
    sandbox = start()
    session = client(sandbox)
    url = f"{sandbox.base_url}{CONTACTS}/{contact_ids(sandbox)[0]}"
    before = session.get(url, params={"properties": "city"}).json()
    conforms(before, "SimplePublicObjectWithAssociations")
    same = session.patch(url, json={"properties": {"city": before["properties"]["city"] or ""}}).json()
    assert same["updatedAt"] == before["updatedAt"]
    changed = session.patch(url, json={"properties": {"city": "Lisbon"}}).json()
    assert changed["properties"]["city"] == "Lisbon" and changed["updatedAt"] > before["updatedAt"]
    assert session.patch(url, json={"properties": {"city": ""}}).json()["properties"]["city"] is None
    read_only = session.patch(url, json={"properties": {"lastmodifieddate": "1"}})
    assert read_only.status_code == 400 and read_only.json()["errors"][0]["code"] == "READ_ONLY_VALUE"


def test_adapter_write_gives_one_result_per_change_naming_fields_not_values(start):
    sandbox = start()
    writer = adapter(sandbox)
    sent = recorded_requests(writer)
    a, b, c = contact_ids(sandbox)[:3]
    results = writer.write([
        Change(a, {"properties": {"firstname": "Ana", "concord_customer_id": "cus_a"}}),
        Change(b, {"properties": {"email": "ana.lima(at)example.com"}}),
        Change("99999999", {"properties": {"firstname": "Nobody"}}),
        Change(c, {"properties": {"hs_secret_score": "9"}}),
        Change(a, {"properties": {"lastname": "Lima"}}),
    ])
    assert [(r.source_id, r.ok) for r in results] == [(a, True), (b, False), ("99999999", False), (c, False), (a, True)]
    assert "email" in results[1].reason and "ana.lima" not in results[1].reason
    assert "hs_secret_score" in results[3].reason
    assert results[0].record["properties"]["concord_customer_id"] == "cus_a"
    upserts = [json.loads(r.body) for r in sent if r.path_url == UPSERT]
    assert len(upserts) == 2  # the same contact twice never goes into one batch
    for upsert in upserts:
        conforms(upsert, "BatchInputSimplePublicObjectBatchInputUpsert", lenient=True)


def test_consent_is_written_through_subscribe_and_unsubscribe_idempotently(start):
    sandbox = start()
    session = client(sandbox)
    writer = adapter(sandbox)
    sent = recorded_requests(writer)
    contact_id, address = with_email(sandbox)[0]
    status_url = sandbox.base_url + STATUS + quote(address, safe="")
    before = session.get(f"{sandbox.base_url}{CONTACTS}/{contact_id}").json()["updatedAt"]
    for wanted in ("SUBSCRIBED", "SUBSCRIBED", "NOT_SUBSCRIBED"):
        [result] = writer.write([Change(contact_id, {"emailSubscription": {"status": wanted}})])
        assert result.ok, result.reason
        assert session.get(status_url).json()["subscriptionStatuses"][0]["status"] == wanted
    assert session.get(f"{sandbox.base_url}{CONTACTS}/{contact_id}").json()["updatedAt"] > before
    again = session.post(sandbox.base_url + SUBSCRIBE.replace("subscribe", "unsubscribe"),
                         json={"emailAddress": address, "subscriptionId": sandbox.info()["subscription_id"]})
    assert again.status_code == 400 and again.json()["category"] == "VALIDATION_ERROR"
    for request in (r for r in sent if "subscribe" in r.path_url):
        conforms(json.loads(request.body), "PublicUpdateSubscriptionStatusRequest", CONSENT_SPEC)


def test_consent_answers_match_the_communication_preferences_spec(start):
    sandbox = start()
    session = client(sandbox)
    conforms(session.get(sandbox.base_url + "/communication-preferences/v3/definitions").json(),
             "SubscriptionDefinitionsResponse", CONSENT_SPEC)
    _, address = with_email(sandbox)[1]
    request = {"emailAddress": address, "subscriptionId": sandbox.info()["subscription_id"],
               "legalBasis": "LEGITIMATE_INTEREST_CLIENT", "legalBasisExplanation": "Customer of the shop"}
    current = session.get(sandbox.base_url + STATUS + quote(address, safe="")).json()["subscriptionStatuses"][0]
    path = SUBSCRIBE if current["status"] == "NOT_SUBSCRIBED" else SUBSCRIBE.replace("subscribe", "unsubscribe")
    changed = session.post(sandbox.base_url + path, json=request)
    assert changed.status_code == 200 and changed.json()["status"] != current["status"]
    conforms(changed.json(), "PublicSubscriptionStatus", CONSENT_SPEC)
    broken = session.get(sandbox.base_url + STATUS + quote("ana(at)example.com", safe=""))
    assert broken.status_code == 400
    conforms(broken.json(), "Error", CONSENT_SPEC)


# -- rate limits and faults --

def test_rate_limits_answer_429_with_hubspots_headers_and_policy(start, tmp_path):
    sandbox = start(rate_limit=3, search_rate_limit=1)
    session = client(sandbox)
    answers = [session.get(sandbox.base_url + CONTACTS) for _ in range(4)]
    assert [r.headers["X-HubSpot-RateLimit-Remaining"] for r in answers[:3]] == ["2", "1", "0"]
    limited = answers[3]
    assert limited.status_code == 429 and "Retry-After" not in limited.headers
    assert all(name in limited.headers for name in RATE_HEADERS)
    assert limited.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    body = limited.json()
    assert (body["policyName"], body["errorType"]) == ("TEN_SECONDLY_ROLLING", "RATE_LIMIT")
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    searches = [session.post(sandbox.base_url + SEARCH, json={}) for _ in range(2)]
    assert [r.status_code for r in searches] == [200, 429] and searches[1].json()["policyName"] == "SECONDLY"
    small = start(state_dir=tmp_path / "daily", daily_limit=2)
    session = client(small)
    answers = [session.get(small.base_url + CONTACTS) for _ in range(3)]
    assert [r.headers["X-HubSpot-RateLimit-Daily-Remaining"] for r in answers] == ["1", "0", "0"]
    assert answers[2].status_code == 429 and answers[2].json()["policyName"] == "DAILY"


def test_faults_lose_nothing_and_no_email_reaches_errors_or_logs(start, caplog):
    sandbox = start(faults=Faults(seed=11, error_rate=0.2, drop_rate=0.1))
    caplog.set_level(logging.INFO)
    ids, _ = read_ids(adapter(sandbox), "contacts")
    assert sorted(ids, key=int) == contact_ids(sandbox)
    assert "/status/email/{emailAddress}" in caplog.text
    assert not any(address.lower() in caplog.text.lower() or quote(address, safe="") in caplog.text
                   for _, address in with_email(sandbox))


# -- persistence and the command line --

def test_state_and_token_survive_a_restart(start):
    first = start()
    contact_id = contact_ids(first)[0]
    client(first).patch(f"{first.base_url}{CONTACTS}/{contact_id}", json={"properties": {"zip": "1000-001"}})
    token = first.token
    first.stop()
    second = start()
    assert second.token == token
    held = client(second).get(f"{second.base_url}{CONTACTS}/{contact_id}", params={"properties": "zip"}).json()
    assert held["properties"]["zip"] == "1000-001"


def test_seed_mismatch_raises_unless_reset(start, tmp_path):
    start().stop()
    with pytest.raises(ValueError, match="pass --reset"):
        HubSpotSandbox(state_dir=tmp_path / "state", seed=4, customers=PEOPLE)
    assert start(seed=4, reset=True).info()["seed"] == 4


def test_main_prints_one_json_line_and_stops_on_sigterm(tmp_path):
    command = [sys.executable, "-m", "adapters.hubspot.sandbox", "--port", "0", "--seed", "1", "--customers", "30",
               "--state-dir", str(tmp_path)]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            info = json.loads(process.stdout.readline())
            assert {"system", "base_url", "password", "portal_id", "subscription_id", "state", "seed",
                    "customers"} <= set(info) and info["system"] == "hubspot"
            auth = {"Authorization": f"Bearer {info['password']}"}
            assert requests.get(info["base_url"] + CONTACTS, headers=auth, timeout=5).status_code == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
            assert info["password"] not in process.stderr.read()
        finally:
            process.kill()
