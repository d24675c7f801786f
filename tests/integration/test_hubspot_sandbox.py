"""Integration tests for the HubSpot sandbox and adapter: real HTTP on 127.0.0.1, state in tmp_path.

They pin what the adapter relies on (bearer auth, list and search paging and the 10,000-result
cap, batch upsert's 200/207 and unordered results, subscription statuses read in batches with the
time of their last change and written in batches with per-input errors, rate-limit headers and 429
bodies, persistence, the CLI line) and check the sandbox's answers against HubSpot's published
OpenAPI specs (answers strictly, the adapter's requests leniently), so that the sandbox cannot drift
away from what HubSpot does.
"""
from __future__ import annotations

import copy
import json
import logging
import math
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from openapi_schema_validator import OAS30Validator

from adapters.base import Change, WriteResult
from adapters.hubspot.client import HubSpotAdapter
from adapters.hubspot.sandbox import SUBSCRIPTION_CREATED, HubSpotSandbox
from adapters.hubspot.seed import iso_millis, seed
from adapters.sandbox import Faults
from adapters.world import World
from canonical import mapping as mappings
from canonical.sandboxes import endpoint_of

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO.parent / "shared" / "vendor-specs"
CONTACTS_SPEC, CONSENT_SPEC = "hubspot_crm_contacts_v3.json", "hubspot_communication_preferences_v3.json"
CONSENT_V4_SPEC = "hubspot_communication_preferences_v4.json"
PEOPLE = 40
CONTACTS, SEARCH = "/crm/v3/objects/contacts", "/crm/v3/objects/contacts/search"
UPSERT, EVENTS = "/crm/v3/objects/contacts/batch/upsert", "/email/public/v1/events"
GDPR_DELETE = "/crm/v3/objects/contacts/gdpr-delete"
STATUS, SUBSCRIBE = "/communication-preferences/v3/status/email/", "/communication-preferences/v3/subscribe"
STATUSES, STATUS_V4 = "/communication-preferences/v4/statuses/batch/read", "/communication-preferences/v4/statuses/"
STATUS_WRITE = "/communication-preferences/v4/statuses/batch/write"
# Addresses per v4 status batch: HubSpot's batch cap (its spec states none for these endpoints).
STATUS_BATCH_LIMIT = 100
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


def recorded_responses(adapter_: HubSpotAdapter) -> list[requests.Response]:
    """Every answer the adapter receives, as recorded_requests records its requests."""
    received: list[requests.Response] = []
    adapter_.http.session.hooks["response"].append(lambda response, **_: received.append(response))
    return received


def malformed_and_addressless(sandbox: HubSpotSandbox) -> tuple[list[str], list[str]]:
    """Contacts whose address HubSpot holds broken, and contacts with none."""
    views = World(sandbox.seed, sandbox.customers).views("hubspot")
    return ([v.source_id for v in views if v.email and v.malformed == "email"],
            [v.source_id for v in views if not (v.email and v.email.strip())])


def held_statuses(sandbox: HubSpotSandbox, addresses: list[str]) -> dict[str, str]:
    """Address (lower case) -> the v4 status the sandbox holds, read through batch read."""
    held = {}
    for start in range(0, len(addresses), STATUS_BATCH_LIMIT):
        answer = read_statuses(sandbox, addresses[start:start + STATUS_BATCH_LIMIT]).json()
        held.update({r["subscriberIdString"]: r["statuses"][0]["status"] for r in answer["results"]})
    return held


def status_write(sandbox: HubSpotSandbox, inputs: list[dict]) -> requests.Response:
    return client(sandbox).post(sandbox.base_url + STATUS_WRITE, json={"inputs": inputs})


def status_input(sandbox: HubSpotSandbox, address: str, state: str, **extra) -> dict:
    return {"subscriberIdString": address, "channel": "EMAIL", "statusState": state,
            "subscriptionId": int(sandbox.info()["subscription_id"]), **extra}


def read_statuses(sandbox: HubSpotSandbox, addresses: list[str]) -> requests.Response:
    return client(sandbox).post(sandbox.base_url + STATUSES, params={"channel": "EMAIL"}, json={"inputs": addresses})


def seeded_statuses(sandbox: HubSpotSandbox) -> dict[str, tuple[str, str]]:
    """Address -> (v4 status, time of its last change) as seeded from the world's consent."""
    return {key: (status, iso_millis(at)) for key, status, at in seed(sandbox.seed, sandbox.customers).subscriptions}


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
    assert {status for _, status, _ in data.subscriptions} == {"SUBSCRIBED", "UNSUBSCRIBED"}
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


def test_after_a_complete_read_the_next_starts_at_its_start_not_at_the_newest_record(start, monkeypatch):
    """After a burst of writes, the next read must not page through the burst's tail again: the
    lookback is counted back from when the last complete read began (the vendor's clock)."""
    monkeypatch.setattr("adapters.hubspot.client.LOOKBACK", timedelta(seconds=1))  # instead of waiting 2 minutes
    sandbox = start()
    reader = adapter(sandbox, page_size=4)
    inputs = [{"id": i, "properties": {"lastname": "Burst"}} for i in contact_ids(sandbox)[:12]]
    assert client(sandbox).post(sandbox.base_url + UPSERT, json={"inputs": inputs}).status_code == 200
    time.sleep(2.5)  # the burst is now older than the lookback, counted back from the read below
    everyone, cursor = read_ids(reader, "contacts")
    assert sorted(everyone, key=int) == contact_ids(sandbox)
    sent = recorded_requests(reader)
    again, _ = read_ids(reader, "contacts", cursor)
    assert again == [] and [r.path_url for r in sent].count(SEARCH) == 1


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


def test_adapter_attaches_each_contacts_status_with_the_time_it_last_changed(start):
    sandbox = start()
    # A new contact's address has no status yet: HubSpot answers NOT_SPECIFIED for it.
    created = client(sandbox).post(sandbox.base_url + UPSERT, json={"inputs": [
        {"id": "nora.new@example.com", "idProperty": "email", "properties": {"firstname": "Nora"}}]})
    everyone = [*with_email(sandbox), (created.json()["results"][0]["id"], "nora.new@example.com")]
    records = [r for p in adapter(sandbox).read("contacts", None) for r in p.records]
    held = {r["id"]: r.get("emailSubscription") for r in records}
    answer = read_statuses(sandbox, [address for _, address in everyone])
    conforms(answer.json(), "BatchResponsePublicStatusBulkResponse", CONSENT_V4_SPEC)
    statuses = {r["subscriberIdString"]: r["statuses"][0] for r in answer.json()["results"]}
    seeded = seeded_statuses(sandbox)
    assert seeded
    for contact_id, address in everyone:
        key = address.lower()
        assert held[contact_id] == statuses[key]
        wanted = seeded.get(key, ("NOT_SPECIFIED", SUBSCRIPTION_CREATED))
        assert (held[contact_id]["status"], held[contact_id]["timestamp"]) == wanted
    assert all(held[i] is None for i in contact_ids(sandbox) if i not in dict(with_email(sandbox)))


def test_the_mapping_gives_consent_its_status_and_time(start):
    sandbox = start()
    records = [r for p in adapter(sandbox).read("contacts", None) for r in p.records]
    contacts = mappings.load("hubspot").stream("contacts")
    canonical = {r["id"]: contacts.to_canonical(r)[0] for r in records}
    words = {"SUBSCRIBED": "subscribed", "UNSUBSCRIBED": "unsubscribed"}
    seeded = seeded_statuses(sandbox)
    dated = [(i, a.lower()) for i, a in with_email(sandbox) if a.lower() in seeded]
    assert dated
    for contact_id, key in dated:
        status, at = seeded[key]
        assert canonical[contact_id]["consent"] == {"email": {"status": words[status], "updated_at": at}}


def test_consent_is_read_in_batches_not_one_request_per_contact(start):
    sandbox = start(customers=400)
    reader = adapter(sandbox, page_size=200)
    sent = recorded_requests(reader)
    pages = list(reader.read("contacts", None))
    contacts = sum(len(p.records) for p in pages)
    batches = [json.loads(r.body)["inputs"] for r in sent if r.path_url.startswith(STATUSES)]
    assert contacts > STATUS_BATCH_LIMIT and len(with_email(sandbox)) > STATUS_BATCH_LIMIT
    assert len(batches) <= math.ceil(contacts / STATUS_BATCH_LIMIT) + len(pages)
    assert all(0 < len(inputs) <= STATUS_BATCH_LIMIT for inputs in batches)
    assert not any(STATUS in r.path_url for r in sent)
    for request in (r for r in sent if r.path_url.startswith(STATUSES)):
        assert request.path_url == STATUSES + "?channel=EMAIL"
        conforms(json.loads(request.body), "BatchInputString", CONSENT_V4_SPEC)


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


def test_consent_is_written_through_the_v4_batch_write_idempotently_and_stamped_now(start):
    sandbox = start()
    session = client(sandbox)
    writer = adapter(sandbox)
    answers = recorded_responses(writer)
    contact_id, address = with_email(sandbox)[0]
    before = session.get(f"{sandbox.base_url}{CONTACTS}/{contact_id}").json()["updatedAt"]
    reasons = []
    for wanted in ("SUBSCRIBED", "SUBSCRIBED", "UNSUBSCRIBED"):
        written_from = iso_millis(int(time.time() * 1000))
        [result] = writer.write([Change(contact_id, {"emailSubscription": {"status": wanted}})])
        assert result.ok, result.reason
        reasons.append(result.record["emailSubscription"]["setStatusSuccessReason"])
        [held] = read_statuses(sandbox, [address]).json()["results"][0]["statuses"]
        assert held["status"] == wanted and (held["timestamp"] >= written_from or reasons[-1] == "NO_STATUS_CHANGE")
    assert reasons[1:] == ["NO_STATUS_CHANGE", "REQUESTED_CHANGE_OCCURRED"]
    assert session.get(f"{sandbox.base_url}{CONTACTS}/{contact_id}").json()["updatedAt"] > before
    writes = [a for a in answers if a.request.path_url.startswith(STATUS_V4) and a.request.path_url != STATUSES]
    assert [a.request.path_url for a in writes] == [STATUS_WRITE] * 3
    for answer in writes:
        assert answer.status_code == 200
        conforms(json.loads(answer.request.body), "BatchInputPublicStatusRequest", CONSENT_V4_SPEC)
        conforms(answer.json(), "BatchResponsePublicStatus", CONSENT_V4_SPEC)


def test_consent_changes_go_in_batches_of_100_and_read_back_as_written(start):
    sandbox = start(customers=400)
    writer = adapter(sandbox)
    answers = recorded_responses(writer)
    everyone = with_email(sandbox)
    assert len(everyone) > STATUS_BATCH_LIMIT
    wanted = {contact_id: ("SUBSCRIBED", "UNSUBSCRIBED")[n % 2] for n, (contact_id, _) in enumerate(everyone)}
    # As delivery sends consent: the status alone, the adapter finds the address.
    results = writer.write([Change(i, {"emailSubscription": {"status": w}}) for i, w in wanted.items()])
    assert [(r.source_id, r.ok, r.reason) for r in results] == [(i, True, None) for i in wanted]
    assert [r.record["emailSubscription"]["status"] for r in results] == list(wanted.values())
    writes = [a for a in answers if a.request.path_url.startswith(STATUS_V4)]
    assert [a.request.path_url for a in writes] == [STATUS_WRITE] * math.ceil(len(everyone) / STATUS_BATCH_LIMIT)
    # The addresses come from contact batch reads, 100 ids a request, not from a GET per contact.
    lookups = [a for a in answers if a not in writes]
    assert [a.request.path_url for a in lookups] == [CONTACTS + "/batch/read"] * math.ceil(len(everyone) / 100)
    for answer in lookups:
        conforms(json.loads(answer.request.body), "BatchReadInputSimplePublicObjectId", CONTACTS_SPEC)
        conforms(answer.json(), "BatchResponseSimplePublicObject", CONTACTS_SPEC)
    sent = [i for a in writes for i in json.loads(a.request.body)["inputs"]]
    assert all(len(json.loads(a.request.body)["inputs"]) <= STATUS_BATCH_LIMIT for a in writes)
    assert sorted(i["subscriberIdString"] for i in sent) == sorted(address for _, address in everyone)
    for answer in writes:
        conforms(json.loads(answer.request.body), "BatchInputPublicStatusRequest", CONSENT_V4_SPEC)
        conforms(answer.json(), "BatchResponsePublicStatus", CONSENT_V4_SPEC)
    held = held_statuses(sandbox, [address for _, address in everyone])
    assert {i: held[address.lower()] for i, address in everyone} == wanted


def test_a_malformed_address_fails_alone_and_the_rest_of_its_batch_is_written(start):
    sandbox = start(customers=400)
    writer = adapter(sandbox)
    answers = recorded_responses(writer)
    (first, first_address), (second, second_address) = with_email(sandbox)[:2]
    malformed, addressless = malformed_and_addressless(sandbox)
    assert malformed and addressless
    broken, nowhere = malformed[0], addressless[0]
    broken_address = client(sandbox).get(f"{sandbox.base_url}{CONTACTS}/{broken}",
                                         params={"properties": "email"}).json()["properties"]["email"].strip()
    results = writer.write([
        Change(first, {"emailSubscription": {"status": "SUBSCRIBED"}}),
        Change(broken, {"emailSubscription": {"status": "UNSUBSCRIBED"}}),
        Change(nowhere, {"emailSubscription": {"status": "UNSUBSCRIBED"}}),
        Change(second, {"emailSubscription": {"status": "UNSUBSCRIBED"}}),
        Change(first, {"emailSubscription": {"status": "UNSUBSCRIBED"}}),  # the same address again: lands last
    ])
    assert [(r.source_id, r.ok) for r in results] == [(first, True), (broken, False), (nowhere, False),
                                                      (second, True), (first, True)]
    assert not results[1].retriable and results[1].reason == \
        "consent: hubspot: VALIDATION_ERROR on subscriberIdString (INVALID_EMAIL)"
    assert results[2].reason == ("hubspot: consent: no email address on the contact, or no subscription_id in "
                                 "the connection's extra")
    writes = [a for a in answers if a.request.path_url.startswith(STATUS_V4)]
    assert [a.request.path_url for a in writes] == [STATUS_WRITE] * 2
    assert [[i["subscriberIdString"] for i in json.loads(a.request.body)["inputs"]] for a in writes] == [
        [first_address, broken_address, second_address], [first_address]]
    assert [a.status_code for a in writes] == [207, 200]
    conforms(writes[0].json(), "BatchResponsePublicStatus", CONSENT_V4_SPEC)
    assert writes[0].json()["numErrors"] == 1
    assert held_statuses(sandbox, [first_address, second_address]) == {
        first_address.lower(): "UNSUBSCRIBED", second_address.lower(): "UNSUBSCRIBED"}


def test_a_create_is_keyed_by_the_golden_id_and_carries_its_consent(start):
    sandbox = start()
    writer = adapter(sandbox)
    sent = recorded_requests(writer)
    create = Change(None, {"properties": {"firstname": "Nova", "email": "nova.reyes@example.org"},
                           "emailSubscription": {"status": "SUBSCRIBED"}}, key="cus_nova")
    existing = contact_ids(sandbox)[0]
    update = Change(existing, {"properties": {"lastname": "Reyes"}})
    updated, first, again, keyless = writer.write([update, create, create,
                                                   Change(None, {"properties": {"firstname": "Kim"}})])
    assert (updated.source_id, updated.ok) == (existing, True)
    assert first.ok and again.ok and first.source_id == again.source_id not in contact_ids(sandbox)
    assert first.record["emailSubscription"]["status"] == "SUBSCRIBED"
    assert (keyless.source_id, keyless.ok) == (None, False) and "key" in keyless.reason
    upserts = [json.loads(r.body) for r in sent if r.path_url == UPSERT]
    # Updates and creates go in batches of their own; the same create twice never shares one.
    by = [[i["idProperty"] for i in u["inputs"]] for u in upserts]
    assert by == [["hs_object_id"], ["concord_customer_id"], ["concord_customer_id"]]
    for upsert in upserts:
        conforms(upsert, "BatchInputSimplePublicObjectBatchInputUpsert", lenient=True)
    ids, _ = read_ids(adapter(sandbox), "contacts")
    assert ids.count(first.source_id) == 1


def test_erase_deletes_the_contact_and_its_status_for_good_and_a_retry_is_done(start):
    sandbox = start()
    session = client(sandbox)
    eraser = adapter(sandbox)
    sent = recorded_responses(eraser)
    contact_id, address = with_email(sandbox)[0]
    assert eraser.erase([contact_id, contact_id]) == [WriteResult(contact_id, ok=True)] * 2
    assert [(a.request.path_url, a.status_code) for a in sent] == [(GDPR_DELETE, 204), (GDPR_DELETE, 404)]
    assert sent[0].content == b""
    conforms(json.loads(sent[0].request.body), "PublicGdprDeleteInput")
    conforms(sent[1].json(), "Error")
    assert session.get(f"{sandbox.base_url}{CONTACTS}/{contact_id}").status_code == 404
    assert read_statuses(sandbox, [address]).json()["results"][0]["statuses"][0]["status"] == "NOT_SPECIFIED"
    assert contact_id not in read_ids(adapter(sandbox), "contacts")[0]
    [bad] = eraser.erase(["not-an-id"])
    assert not bad.ok and len(sent) == 2


def test_v4_status_answers_and_refusals_match_the_spec(start):
    sandbox = start()
    addresses = [address for _, address in with_email(sandbox)][:3]
    mixed = read_statuses(sandbox, [*addresses, "ana(at)example.com"])
    assert mixed.status_code == 207 and mixed.json()["numErrors"] == 1 and len(mixed.json()["results"]) == 3
    conforms(mixed.json(), "BatchResponsePublicStatusBulkResponseWithErrors", CONSENT_V4_SPEC)
    session = client(sandbox)
    refusals = (read_statuses(sandbox, [f"p{n}@example.com" for n in range(STATUS_BATCH_LIMIT + 1)]),
                session.post(sandbox.base_url + STATUSES, json={"inputs": addresses}),  # no channel
                session.post(sandbox.base_url + STATUS_V4 + quote(addresses[0], safe=""),
                             json={"channel": "EMAIL", "statusState": "OPTED_IN", "subscriptionId": 1}))
    for refused in refusals:
        assert refused.status_code == 400 and refused.json()["category"] == "VALIDATION_ERROR"
        conforms(refused.json(), "Error", CONSENT_V4_SPEC)
    assert read_statuses(sandbox, addresses[:1] * STATUS_BATCH_LIMIT).status_code == 200


def test_batch_status_write_sets_each_input_as_the_single_update_and_refuses_a_broken_body(start):
    sandbox = start()
    (_, good), (_, other) = with_email(sandbox)[:2]
    before = held_statuses(sandbox, [good, other])
    wanted = "UNSUBSCRIBED" if before[good.lower()] == "SUBSCRIBED" else "SUBSCRIBED"
    mixed = status_write(sandbox, [
        status_input(sandbox, good, wanted, legalBasis="CONSENT_WITH_NOTICE", legalBasisExplanation="Asked"),
        status_input(sandbox, "ana(at)example.com", "SUBSCRIBED"),
        status_input(sandbox, other, "SUBSCRIBED", subscriptionId=1)])
    assert mixed.status_code == 207
    body = mixed.json()
    conforms(body, "BatchResponsePublicStatus", CONSENT_V4_SPEC)
    assert body["numErrors"] == 2 and [r["subscriberIdString"] for r in body["results"]] == [good.lower()]
    assert body["results"][0]["setStatusSuccessReason"] != "NO_STATUS_CHANGE"
    assert body["results"][0]["status"] == wanted
    by_input = {e["context"]["subscriberIdString"][0]: [d["in"] for d in e["errors"]] for e in body["errors"]}
    assert by_input == {"ana(at)example.com": ["subscriberIdString"], other: ["subscriptionId"]}
    assert held_statuses(sandbox, [good, other]) == {**before, good.lower(): wanted}
    again = status_write(sandbox, [status_input(sandbox, good, wanted)])
    assert again.status_code == 200 and again.json()["results"][0]["setStatusSuccessReason"] == "NO_STATUS_CHANGE"
    assert again.json()["results"][0]["timestamp"] == body["results"][0]["timestamp"]
    refusals = [status_write(sandbox, inputs) for inputs in (
        [status_input(sandbox, other, "OPTED_IN")],
        [status_input(sandbox, other, "SUBSCRIBED", channel="SMS")],
        [status_input(sandbox, other, "SUBSCRIBED", legalBasis="BECAUSE")],
        [{key: value for key, value in status_input(sandbox, other, "SUBSCRIBED").items() if key != "subscriptionId"}],
        [status_input(sandbox, other, "SUBSCRIBED"), status_input(sandbox, other.upper(), "UNSUBSCRIBED")],
        [status_input(sandbox, f"p{n}@example.com", "UNSUBSCRIBED") for n in range(STATUS_BATCH_LIMIT + 1)],
        [])]
    for refused in refusals:
        assert refused.status_code == 400 and refused.json()["category"] == "VALIDATION_ERROR"
        conforms(refused.json(), "Error", CONSENT_V4_SPEC)
    # A refused batch writes none of its inputs, not even the valid ones before the broken one.
    assert held_statuses(sandbox, [good, other]) == {**before, good.lower(): wanted}
    full = [status_input(sandbox, f"p{n}@example.com", "UNSUBSCRIBED") for n in range(STATUS_BATCH_LIMIT)]
    assert status_write(sandbox, full).status_code == 200


def test_each_status_batch_write_is_one_request_against_the_rate_limit(start):
    sandbox = start(rate_limit=2)
    addresses = [address for _, address in with_email(sandbox)][:3]
    inputs = [status_input(sandbox, address, "UNSUBSCRIBED") for address in addresses]
    answers = [status_write(sandbox, inputs) for _ in range(2)]
    assert [r.status_code for r in answers] == [200, 200]
    assert [r.headers["X-HubSpot-RateLimit-Remaining"] for r in answers] == ["1", "0"]
    limited = status_write(sandbox, [status_input(sandbox, addresses[0], "SUBSCRIBED")])
    assert limited.status_code == 429 and limited.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert sandbox.stats["requests"] == 3 and sandbox.stats["429"] == 1


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
    assert STATUSES in caplog.text  # a status batch was retried, so its errors were logged
    everyone = with_email(sandbox)
    writer = adapter(sandbox)
    results = [r for start_ in range(0, len(everyone), 3) for r in writer.write(
        [Change(i, {"emailSubscription": {"status": "UNSUBSCRIBED"}}) for i, _ in everyone[start_:start_ + 3]])]
    assert all(r.ok for r in results), [r.reason for r in results if not r.ok]
    assert STATUS_WRITE in caplog.text  # a status batch write was retried too
    sandbox.faults = Faults()  # the check reads what the sandbox holds, past the faults
    assert set(held_statuses(sandbox, [address for _, address in everyone]).values()) == {"UNSUBSCRIBED"}
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


def test_batch_read_answers_the_contacts_found_and_names_the_ids_it_could_not_find(start):
    sandbox = start()
    known = contact_ids(sandbox)[:2]
    answer = client(sandbox).post(sandbox.base_url + CONTACTS + "/batch/read", json={
        "inputs": [{"id": known[0]}, {"id": "999999999"}, {"id": known[1]}], "properties": ["email"],
        "propertiesWithHistory": []})
    assert answer.status_code == 207
    conforms(answer.json(), "BatchResponseSimplePublicObjectWithErrors")
    assert sorted(r["id"] for r in answer.json()["results"]) == sorted(known)
    assert all("email" in r["properties"] for r in answer.json()["results"])
    assert [e["context"]["ids"] for e in answer.json()["errors"]] == [["999999999"]]
    refused = client(sandbox).post(sandbox.base_url + CONTACTS + "/batch/read", json={"inputs": [{"id": known[0]}]})
    assert refused.status_code == 400  # properties is required
