"""Integration tests for the Shopify sandbox and adapter: real HTTP on 127.0.0.1, state in tmp_path.

They pin what the adapter relies on and what real Shopify does (token auth and its 401 body, cursor
connections, `updated_at` search, the 25,000-object cut-off, cost-based throttling and its THROTTLED
body, userErrors on HTTP 200, consent only through its own mutations, customerCreate and the adapter's
create-once upsert on a key tag, customerRequestDataErasure, persistence), and check the sandbox's
schema, its answers and the adapter's queries against Shopify's published Admin SDL."""
from __future__ import annotations

import gzip
import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import graphql
import pytest
import requests

from adapters.base import Change, FatalError
from adapters.sandbox import Faults
from adapters.shopify import graphql_schema
from adapters.shopify.client import (CREATE, CUSTOMER_FIELDS, LOOKBACK, READS, ShopifyAdapter, erasure_document,
                                     lookup_document, mutation_document)
from adapters.shopify.sandbox import API_PATH, ShopifySandbox
from adapters.shopify.seed import customer_node
from adapters.watermark import format_ts, parse_ts
from adapters.world import World
from canonical.sandboxes import endpoint_of

REPO = Path(__file__).resolve().parents[2]
VENDOR_SDL = REPO.parent / "shared" / "vendor-specs" / "shopify_admin_2025-01.graphql.gz"
SEED, PEOPLE = 5, 380  # enough people for Shopify to hold 200+ records, the malformed ones among them
PAGE = "query($first: Int, $after: String, $sort: CustomerSortKeys, $reverse: Boolean, $query: String) {" \
       " customers(first: $first, after: $after, sortKey: $sort, reverse: $reverse, query: $query) {" \
       " edges { cursor node { id updatedAt } } nodes { id } pageInfo { hasNextPage endCursor } } }"
UPDATE = "mutation($input: CustomerInput!) { customerUpdate(input: $input) {" \
         " customer { ...CustomerFields } userErrors { field message } } }" + CUSTOMER_FIELDS
CONSENT = "mutation($input: Customer{0}MarketingConsentUpdateInput!) {{" \
          " customer{0}MarketingConsentUpdate(input: $input) {{" \
          " customer {{ ...CustomerFields }} userErrors {{ field message code }} }} }}"
EMAIL_CONSENT, SMS_CONSENT = (CONSENT.format(channel) + CUSTOMER_FIELDS for channel in ("Email", "Sms"))
CREATE_ONE = "mutation($input: CustomerInput!) { customerCreate(input: $input) {" \
             " customer { ...CustomerFields } userErrors { field message } } }" + CUSTOMER_FIELDS
ERASE_ONE = "mutation($id: ID!) { customerRequestDataErasure(customerId: $id) {" \
            " customerId userErrors { code field message } } }"
READ_ONE = "query($id: ID!) { customer(id: $id) { ...CustomerFields } }" + CUSTOMER_FIELDS


@pytest.fixture(scope="module")
def vendor_schema() -> graphql.GraphQLSchema:
    return graphql.build_schema(gzip.decompress(VENDOR_SDL.read_bytes()).decode(), assume_valid_sdl=True,
                                assume_valid=True)


@pytest.fixture(scope="module")
def world() -> World:
    return World(SEED, PEOPLE)


@pytest.fixture
def start(tmp_path):
    """Start sandboxes on tmp_path (a bottomless cost bucket unless overridden); stop them all afterwards."""
    started: list[ShopifySandbox] = []

    def _start(**overrides) -> ShopifySandbox:
        options = dict(state_dir=tmp_path, seed=SEED, customers=PEOPLE, maximum_available=1e9, restore_rate=1e9)
        sandbox = ShopifySandbox(**{**options, **overrides}).start()
        started.append(sandbox)
        return sandbox

    yield _start
    for sandbox in started:
        sandbox.stop()


def post(sandbox: ShopifySandbox, query: str, /, token: str | None = None, **variables) -> requests.Response:
    return requests.post(sandbox.base_url + API_PATH, json={"query": query, "variables": variables}, timeout=10,
                         headers={"X-Shopify-Access-Token": sandbox.access_token if token is None else token})


def run(sandbox: ShopifySandbox, query: str, /, **variables) -> dict:
    response = post(sandbox, query, **variables)
    assert response.status_code == 200
    return response.json()


def adapter(sandbox: ShopifySandbox, **options) -> ShopifyAdapter:
    return ShopifyAdapter(endpoint_of(sandbox.info()), **{"max_wait": 20.0, **options})


def read_ids(shopify: ShopifyAdapter, stream: str, cursor=None) -> list[str]:
    return [record["id"] for page in shopify.read(stream, cursor) for record in page.records]


def walk(sandbox: ShopifySandbox, **variables) -> list[dict]:
    """Every edge of the customers connection, following endCursor."""
    edges, after = [], None
    for _ in range(100):
        connection = run(sandbox, PAGE, after=after, **variables)["data"]["customers"]
        edges += connection["edges"]
        assert [e["node"]["id"] for e in connection["edges"]] == [n["id"] for n in connection["nodes"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return edges
        after = connection["pageInfo"]["endCursor"]
        assert after == connection["edges"][-1]["cursor"]
    raise AssertionError("the connection never ended")


def tie(world: World) -> tuple[str, int]:
    """The updated_at most customers share, and how many share it."""
    return Counter(v.updated_at for v in world.views("shopify")).most_common(1)[0]


# -- seed and auth --

def test_the_sandbox_serves_the_worlds_shopify_views_as_customer_nodes(start, world):
    sandbox = start()
    edges = walk(sandbox, first=50)
    views = world.views("shopify")
    assert sorted(e["node"]["id"] for e in edges) == sorted(v.source_id for v in views)
    broken = [v for v in views if v.malformed]
    assert broken, "the world should hold malformed records"
    for view in broken:  # served as the world broke them: only writes are validated
        node = run(sandbox, "query($id: ID!) { customer(id: $id) { ...CustomerFields } }" + CUSTOMER_FIELDS,
                   id=view.source_id)["data"]["customer"]
        assert node == {k: v for k, v in customer_node(view).items() if k != "note"}
        assert node[view.malformed] == getattr(view, view.malformed)
    subscribed = next(v for v in views if v.email and v.consent.get("email", {}).get("status") == "subscribed")
    assert customer_node(subscribed)["emailMarketingConsent"]["marketingState"] == "SUBSCRIBED"


def test_missing_or_wrong_token_gets_shopifys_401_body(start):
    sandbox = start()
    body = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
    for token in ("", "shpat_not-the-token"):
        response = post(sandbox, "{ customers(first: 1) { nodes { id } } }", token=token)
        assert (response.status_code, response.json()) == (401, body)
    assert sandbox.access_token.startswith("shpat_")
    assert post(sandbox, "{ customers(first: 1) { nodes { id } } }").status_code == 200
    other_version = requests.post(sandbox.base_url + "/admin/api/2023-01/graphql.json", json={"query": "{ shop }"},
                                  headers={"X-Shopify-Access-Token": sandbox.access_token}, timeout=10)
    assert (other_version.status_code, other_version.json()) == (404, {"errors": "Not Found"})


def test_a_body_without_a_query_is_a_400_and_bad_graphql_is_a_200_with_errors(start):
    sandbox = start()
    missing = requests.post(sandbox.base_url + API_PATH, data=b"{", timeout=10,
                            headers={"X-Shopify-Access-Token": sandbox.access_token})
    assert missing.status_code == 400
    assert missing.json() == {"errors": {"query": "Required parameter missing or invalid"}}
    unknown = run(sandbox, "{ customers(first: 1) { nodes { birthday } } }")
    assert "data" not in unknown and "birthday" in unknown["errors"][0]["message"]
    assert run(sandbox, "{ customers { nodes { id } } }")["errors"][0]["message"] == \
        "you must provide one of first or last"


# -- connections and search --

def test_connections_page_by_cursor_in_sort_order_both_ways(start, world):
    sandbox = start()
    by_update = walk(sandbox, first=7, sort="UPDATED_AT")
    keys = [(e["node"]["updatedAt"], int(e["node"]["id"].rsplit("/", 1)[1])) for e in by_update]
    assert keys == sorted(keys) and len(keys) == len(set(keys)) == len(world.views("shopify"))
    backwards = walk(sandbox, first=9, sort="UPDATED_AT", reverse=True)
    assert [e["node"]["id"] for e in backwards] == [e["node"]["id"] for e in reversed(by_update)]
    by_id = [e["node"]["id"] for e in walk(sandbox, first=50)]  # sortKey defaults to ID
    assert by_id == sorted(by_id, key=lambda gid: int(gid.rsplit("/", 1)[1]))
    assert run(sandbox, PAGE, first=5, after="not-a-cursor")["errors"][0]["message"].startswith("Invalid cursor")


def test_search_on_updated_at_is_exclusive_with_gt_and_inclusive_with_gte(start, world):
    sandbox = start()
    stamp, shared = tie(world)
    assert shared > 1, "the world should hold records tied on one second"
    newer = sum(v.updated_at > stamp for v in world.views("shopify"))
    assert len(walk(sandbox, first=50, query=f"updated_at:>'{stamp}'")) == newer
    assert len(walk(sandbox, first=50, query=f"updated_at:>='{stamp[:-1]}.000Z'")) == newer + shared
    assert len(walk(sandbox, first=50, query=f"updated_at:>={stamp} updated_at:<={stamp}")) == shared
    assert len(walk(sandbox, first=50, query="title:anything")) == len(world.views("shopify"))  # ignored


def test_paging_stops_at_the_limit_and_the_adapter_moves_its_window(start, world):
    sandbox = start(pagination_limit=20)
    after = None
    for _ in range(3):  # 3 pages of 7 reach object 20; the next page is refused
        connection = run(sandbox, PAGE, first=7, after=after)["data"]["customers"]
        after = connection["pageInfo"]["endCursor"]
    assert len(connection["nodes"]) == 6 and connection["pageInfo"]["hasNextPage"]
    refused = run(sandbox, PAGE, first=7, after=after)
    assert "Pagination is limited to 20 objects" in refused["errors"][0]["message"]
    ids = read_ids(adapter(sandbox, page_size=7, pagination_limit=20), "customers")
    assert sorted(ids) == sorted(v.source_id for v in world.views("shopify"))


def test_a_tie_larger_than_the_paging_limit_is_a_clear_error(start, world):
    stamp, _ = tie(world)
    floor = format_ts(parse_ts(stamp) - LOOKBACK)
    # From a cursor on the tie, the first query holds the lookback and the tie, and never gets past them.
    held = sum(floor <= v.updated_at <= stamp for v in world.views("shopify"))
    assert any(v.updated_at > stamp for v in world.views("shopify"))
    sandbox = start(pagination_limit=held)
    with pytest.raises(FatalError, match="share updated_at"):
        read_ids(adapter(sandbox, page_size=1, pagination_limit=held), "customers", {"high": stamp, "seen": {}})


def test_orders_link_to_their_customer_and_read_incrementally(start, world):
    sandbox = start()
    shopify = adapter(sandbox, page_size=40)
    pages = list(shopify.read("orders", None))
    orders = {o["id"]: o for page in pages for o in page.records}
    activities = world.activities("shopify")
    assert {a.source_id: a.customer_ref for a in activities} == {i: o["customer"]["id"] for i, o in orders.items()}
    assert any(a.person_id is None for a in activities)  # orphans are served too, with their reference
    assert read_ids(shopify, "orders", pages[-1].cursor) == []


# -- cost-based throttling --

def test_every_answer_reports_its_cost_and_an_empty_bucket_answers_throttled(start):
    sandbox = start(maximum_available=100.0, restore_rate=1.0)
    first = run(sandbox, PAGE, first=60)
    cost = first["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 62 and cost["actualQueryCost"] == 62
    assert cost["throttleStatus"] == {"maximumAvailable": 100.0, "currentlyAvailable": 38, "restoreRate": 1.0}
    throttled = run(sandbox, PAGE, first=60)
    assert throttled["errors"] == [{"message": "Throttled", "extensions": {
        "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}]
    assert "data" not in throttled and throttled["extensions"]["cost"]["actualQueryCost"] is None
    too_big = run(sandbox, "{ a: customers(first: 250) { nodes { id } } b: customers(first: 250) { nodes { id } }"
                           " c: customers(first: 250) { nodes { id } } d: customers(first: 250) { nodes { id } } }")
    assert too_big["errors"][0]["extensions"] == {"code": "MAX_COST_EXCEEDED", "cost": 1008, "maxCost": 1000}


def test_a_short_page_refunds_the_nodes_it_did_not_return(start, world):
    sandbox = start()
    cost = run(sandbox, PAGE, first=250)["extensions"]["cost"]
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (252, 2 + len(world.views("shopify")))


def test_the_adapter_paces_itself_by_the_bucket_it_is_told_about(start, world):
    sandbox = start(maximum_available=100.0, restore_rate=200.0)
    shopify = adapter(sandbox, page_size=40)
    ids = read_ids(shopify, "customers")
    assert sorted(ids) == sorted(v.source_id for v in world.views("shopify"))
    assert shopify.budget.waited > 0
    assert shopify.http.stats["retries"] <= 1  # it waits before a query instead of bouncing off THROTTLED


def test_injected_faults_answer_in_shopifys_shapes_without_acting(start):
    sandbox = start(faults=Faults(throttle_rate=1.0))
    throttled = post(sandbox, UPDATE, input={"id": "gid://shopify/Customer/7100000001", "firstName": "Never"})
    assert throttled.status_code == 200 and throttled.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert throttled.json()["extensions"]["cost"]["requestedQueryCost"] == 10
    sandbox.faults.throttle_rate, sandbox.faults.error_rate = 0.0, 1.0
    failed = post(sandbox, UPDATE, input={"id": "gid://shopify/Customer/7100000001", "firstName": "Never"})
    assert (failed.status_code, failed.json()) == (503, {"errors": "Service Unavailable"})
    sandbox.faults.error_rate = 0.0
    customer = run(sandbox, "{ customer(id: \"gid://shopify/Customer/7100000001\") { firstName } }")
    assert customer["data"]["customer"]["firstName"] != "Never"


# -- writes --

def test_customer_update_normalises_the_phone_and_moves_updated_at_only_on_change(start):
    sandbox = start()
    gid = "gid://shopify/Customer/7100000003"
    changed = run(sandbox, UPDATE, input={"id": gid, "firstName": "Renée", "phone": "(415) 555-0142"})
    customer = changed["data"]["customerUpdate"]["customer"]
    assert (customer["firstName"], customer["phone"]) == ("Renée", "+14155550142")
    moved = datetime.fromisoformat(customer["updatedAt"].replace("Z", "+00:00"))
    assert abs(moved.timestamp() - time.time()) < 5
    time.sleep(1.1)
    same = run(sandbox, UPDATE, input={"id": gid, "firstName": "Renée"})["data"]["customerUpdate"]["customer"]
    assert same["updatedAt"] == customer["updatedAt"]


def test_validation_failures_are_user_errors_on_http_200(start):
    sandbox = start()
    gid = "gid://shopify/Customer/7100000004"
    taken = next(n for n in _all_nodes(sandbox) if n["email"] and "@" in n["email"] and n["id"] != gid)["email"]
    cases = [
        ({"email": "ana.lima(at)example.com"}, [{"field": ["email"], "message": "Email is invalid"}]),
        ({"email": taken.upper()}, [{"field": ["email"], "message": "Email has already been taken"}]),
        ({"phone": "call after 5pm"}, [{"field": ["phone"], "message": "Phone is invalid"}]),
        ({"emailMarketingConsent": {"marketingState": "SUBSCRIBED"}}, [{"field": ["emailMarketingConsent"], "message":
          "To update emailMarketingConsent, please use the customerEmailMarketingConsentUpdate Mutation instead."}]),
    ]
    for changes, errors in cases:
        payload = run(sandbox, UPDATE, input={"id": gid, **changes})["data"]["customerUpdate"]
        assert payload == {"customer": None, "userErrors": errors}
    gone = run(sandbox, UPDATE, input={"id": "gid://shopify/Customer/1", "firstName": "X"})["data"]["customerUpdate"]
    assert gone["userErrors"] == [{"field": ["id"], "message": "Customer does not exist"}]


def _all_nodes(sandbox: ShopifySandbox) -> list[dict]:
    query = "{ customers(first: 250) { nodes { id email phone } } }"
    return run(sandbox, query)["data"]["customers"]["nodes"]


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_consent_changes_only_through_its_own_mutations(start):
    sandbox = start()
    nodes = _all_nodes(sandbox)
    with_email = next(n for n in nodes if n["email"])["id"]
    without_phone = next(n for n in nodes if not n["phone"])["id"]
    before = time.time()
    payload = run(sandbox, EMAIL_CONSENT, input={"customerId": with_email,
                                                 "emailMarketingConsent": {"marketingState": "UNSUBSCRIBED"}})
    consent = payload["data"]["customerEmailMarketingConsentUpdate"]["customer"]["emailMarketingConsent"]
    assert consent["marketingState"] == "UNSUBSCRIBED" and consent["marketingOptInLevel"] == "SINGLE_OPT_IN"
    assert datetime.fromisoformat(consent["consentUpdatedAt"].replace("Z", "+00:00")).timestamp() >= int(before)
    refusals = [
        (EMAIL_CONSENT, {"customerId": with_email, "emailMarketingConsent": {"marketingState": "NOT_SUBSCRIBED"}},
         "INCLUSION", ["input", "emailMarketingConsent", "marketingState"]),
        (EMAIL_CONSENT, {"customerId": with_email, "emailMarketingConsent": {
            "marketingState": "SUBSCRIBED", "consentUpdatedAt": "2099-01-01T00:00:00Z"}},
         "INVALID", ["input", "emailMarketingConsent", "consentUpdatedAt"]),
        (SMS_CONSENT, {"customerId": without_phone, "smsMarketingConsent": {"marketingState": "SUBSCRIBED"}},
         "INVALID", ["input", "smsMarketingConsent"]),
    ]
    for query, value, code, field in refusals:
        [payload] = run(sandbox, query, input=value)["data"].values()
        assert payload["customer"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, field)]


def test_the_adapter_writes_a_batch_and_fails_only_the_bad_records(start):
    sandbox = start()
    ids = [f"gid://shopify/Customer/{7100000000 + n}" for n in range(12)]
    changes = [Change(gid, {"lastName": f"Batch{n}"}) for n, gid in enumerate(ids)]
    changes[3] = Change(ids[3], {"phone": "ask for reception"})
    changes[5] = Change(ids[5], {"smsMarketingConsent": {"marketingState": "BOGUS"}})
    changes[7] = Change(ids[7], {"phone": "+14155550177", "smsMarketingConsent": {"marketingState": "SUBSCRIBED"}})
    results = adapter(sandbox).write(changes)
    assert [r.source_id for r in results] == ids
    assert [n for n, r in enumerate(results) if not r.ok] == [3, 5]
    assert results[3].reason == "shopify: customerUpdate: phone: Phone is invalid"
    assert "smsMarketingConsent" in results[5].reason and "BOGUS" not in results[5].reason
    assert not results[3].retriable and results[7].record["smsMarketingConsent"]["marketingState"] == "SUBSCRIBED"
    assert results[0].record["lastName"] == "Batch0"


def test_a_write_the_server_keeps_refusing_is_retriable(start):
    sandbox = start(faults=Faults(error_rate=1.0))
    [result] = adapter(sandbox, max_wait=1.0).write([Change("gid://shopify/Customer/7100000001", {"lastName": "X"})])
    assert not result.ok and result.retriable and "503" in result.reason


# -- creates and erasure --

def test_customer_create_makes_a_new_customer_with_its_consent(start, world):
    sandbox = start()
    before = time.time()
    payload = run(sandbox, CREATE_ONE, input={
        "firstName": "Nova", "email": "nova@create.example", "phone": "(415) 555-0199", "tags": ["concord:cus_1"],
        "emailMarketingConsent": {"marketingState": "SUBSCRIBED"}})["data"]["customerCreate"]
    customer = payload["customer"]
    assert payload["userErrors"] == []
    assert max(v.source_id for v in world.views("shopify")) < customer["id"]
    assert (customer["phone"], customer["tags"], customer["lastName"]) == ("+14155550199", ["concord:cus_1"], None)
    assert customer["emailMarketingConsent"]["marketingState"] == "SUBSCRIBED"
    assert customer["smsMarketingConsent"]["marketingState"] == "NOT_SUBSCRIBED"
    assert customer["createdAt"] == customer["updatedAt"] and _epoch(customer["createdAt"]) >= int(before)
    assert run(sandbox, READ_ONE, id=customer["id"])["data"]["customer"] == customer
    assert customer["id"] in [e["node"]["id"] for e in walk(sandbox, first=250)]


def test_customer_create_refuses_what_shopify_refuses(start):
    sandbox = start()
    taken = next(n for n in _all_nodes(sandbox) if n["email"] and "@" in n["email"])["email"]
    cases = [
        ({"note": "no one"}, [{"field": None, "message": "Customer must have a name, phone number or email address"}]),
        ({"email": taken.upper()}, [{"field": ["email"], "message": "Email has already been taken"}]),
        ({"firstName": "Ana", "phone": "call after 5pm"}, [{"field": ["phone"], "message": "Phone is invalid"}]),
        ({"firstName": "Ana", "smsMarketingConsent": {"marketingState": "SUBSCRIBED"}},
         [{"field": ["input", "smsMarketingConsent"], "message": "Customer must have a phone number"}]),
    ]
    count = len(_all_nodes(sandbox))
    for fields, errors in cases:
        assert run(sandbox, CREATE_ONE, input=fields)["data"]["customerCreate"] == {"customer": None,
                                                                                     "userErrors": errors}
    assert len(_all_nodes(sandbox)) == count


def test_tag_search_matches_whole_tags_ignoring_case(start):
    sandbox = start()
    gid = run(sandbox, CREATE_ONE, input={"firstName": "Tagged", "tags": ["concord:cus_Ab1", "vip"]}
              )["data"]["customerCreate"]["customer"]["id"]
    for query, found in [("tag:'concord:cus_ab1'", [gid]), ('tag:"VIP"', [gid]), ("tag:vip", [gid]),
                         ("tag:'concord:cus_ab'", []), ("tag:concord", [])]:
        assert [e["node"]["id"] for e in walk(sandbox, first=50, query=query)] == found, query


def test_data_erasure_removes_the_customer_for_good_and_is_safe_to_repeat(start, world):
    sandbox = start()
    activity = next(a for a in world.activities("shopify") if a.person_id is not None)
    gid = activity.customer_ref  # a customer with orders, which customerDelete would refuse
    assert run(sandbox, ERASE_ONE, id=gid)["data"]["customerRequestDataErasure"] == {"customerId": gid,
                                                                                     "userErrors": []}
    assert run(sandbox, READ_ONE, id=gid)["data"]["customer"] is None
    assert gid not in [e["node"]["id"] for e in walk(sandbox, first=250)]
    orders = {o["id"]: o for page in adapter(sandbox).read("orders", None) for o in page.records}
    assert orders[activity.source_id]["customer"] == {"id": gid}  # kept, pointing at no one
    again = run(sandbox, ERASE_ONE, id=gid)["data"]["customerRequestDataErasure"]
    assert again == {"customerId": None, "userErrors": [
        {"code": "DOES_NOT_EXIST", "field": ["customerId"], "message": "Customer does not exist"}]}
    assert run(sandbox, ERASE_ONE, id="not-a-gid")["errors"][0]["message"] == "Invalid global id 'not-a-gid'"


def test_an_erased_id_is_never_handed_out_again(start, world):
    sandbox = start()
    newest = max(v.source_id for v in world.views("shopify"))
    run(sandbox, ERASE_ONE, id=newest)
    created = run(sandbox, CREATE_ONE, input={"firstName": "Next"})["data"]["customerCreate"]["customer"]
    assert int(created["id"].rsplit("/", 1)[1]) == int(newest.rsplit("/", 1)[1]) + 1


def test_the_adapter_creates_once_per_key_and_updates_on_a_retry(start, world):
    sandbox = start()
    change = Change(None, {"firstName": "Ida", "emailMarketingConsent": {"marketingState": None}}, key="cus_ida")
    [first] = adapter(sandbox).write([change])
    assert first.ok and first.record["tags"] == ["concord:cus_ida"]
    assert first.record["emailMarketingConsent"] is None  # no state to set, no email: nothing sent
    retry = Change(None, {"firstName": "Ida", "lastName": "Later"}, key="cus_ida")
    twice = Change(None, {"firstName": "Bo"}, key="cus_bo")
    refused = [Change(None, {"firstName": "Keyless"}), Change(None, {"firstName": "X"}, key="a'b")]
    results = adapter(sandbox).write([retry, twice, Change(None, {"lastName": "Bo"}, key="cus_bo"), *refused])
    assert results[0].ok and results[0].source_id == first.source_id and results[0].record["lastName"] == "Later"
    assert results[1].ok and results[2].ok and results[1].source_id == results[2].source_id  # one key, one customer
    assert [r.ok for r in results[3:]] == [False, False] and "needs a key" in results[3].reason
    created = {n["id"] for n in _all_nodes(sandbox)} - {v.source_id for v in world.views("shopify")}
    assert created == {first.source_id, results[1].source_id}


def test_a_create_whose_answer_was_lost_is_not_sent_again(start, world):
    """The server commits the create and the answer is lost (a 500 after the commit): the adapter must
    not resend it, and the caller's retry must find the customer by its key."""
    sandbox = start()
    graphql_endpoint = sandbox._graphql

    def lose_create_answers(request):
        answer = graphql_endpoint(request)
        if b"customerCreate" in request.body:
            raise RuntimeError("the answer is lost")
        return answer

    sandbox._graphql = lose_create_answers
    change = Change(None, {"firstName": "Lost", "lastName": "Answer"}, key="cus_lost")  # no email to refuse a twin
    shopify = adapter(sandbox)
    [lost] = shopify.write([change])
    assert not lost.ok and lost.retriable and lost.source_id is None and "500" in lost.reason
    sandbox._graphql = graphql_endpoint
    [retried] = shopify.write([change])
    new = {n["id"] for n in _all_nodes(sandbox)} - {v.source_id for v in world.views("shopify")}
    assert retried.ok and new == {retried.source_id}


def test_a_create_reason_names_the_field_never_the_value(start):
    sandbox = start()
    [result] = adapter(sandbox).write([Change(None, {"email": "ana.lima(at)example.com"}, key="cus_bad")])
    assert (result.ok, result.retriable, result.reason) == (False, False,
                                                            "shopify: customerCreate: email: Email is invalid")


def test_the_adapter_erases_in_a_batch_and_an_unknown_id_is_already_erased(start, world):
    sandbox = start()
    shopify = adapter(sandbox)
    victims = sorted(v.source_id for v in world.views("shopify"))[:12]
    unknown = "gid://shopify/Customer/1"
    results = shopify.erase([*victims, unknown, victims[0], "not-a-gid"])
    assert [r.source_id for r in results] == [*victims, unknown, victims[0], "not-a-gid"]
    assert all(r.ok for r in results[:-1]), [r.reason for r in results]
    assert not results[-1].ok and results[-1].reason == "shopify: refused (error)"
    left = set(read_ids(shopify, "customers"))
    assert left == {v.source_id for v in world.views("shopify")} - set(victims)
    assert all(r.ok for r in shopify.erase(victims))  # an erasure is safe to resend


def test_an_erasure_the_server_keeps_refusing_is_retriable(start):
    sandbox = start(faults=Faults(error_rate=1.0))
    [result] = adapter(sandbox, max_wait=1.0).erase(["gid://shopify/Customer/7100000001"])
    assert not result.ok and result.retriable and "503" in result.reason


# -- state and command line --

def test_state_and_token_survive_a_restart_and_a_new_seed_needs_reset(start, tmp_path):
    first = start()
    gid = "gid://shopify/Customer/7100000002"
    run(first, UPDATE, input={"id": gid, "lastName": "Kept"})
    token = first.access_token
    first.stop()
    second = start()
    assert second.access_token == token
    kept = run(second, "query($id: ID!) { customer(id: $id) { lastName } }", id=gid)["data"]["customer"]
    assert kept["lastName"] == "Kept"
    second.stop()
    with pytest.raises(ValueError, match="pass --reset"):
        ShopifySandbox(state_dir=tmp_path, seed=SEED + 1, customers=PEOPLE)
    assert start(seed=SEED + 1, reset=True).info()["seed"] == SEED + 1


def test_main_prints_one_json_line_and_stops_on_sigterm(tmp_path):
    command = [sys.executable, "-m", "adapters.shopify.sandbox", "--port", "0", "--seed", "1", "--customers", "30",
               "--state-dir", str(tmp_path), "--maximum-available", "1000", "--restore-rate", "50"]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            info = json.loads(process.stdout.readline())
            assert set(info) == {"system", "base_url", "password", "shop", "api_version", "state", "seed", "customers"}
            assert (info["system"], info["customers"], info["api_version"]) == ("shopify", 30, "2025-01")
            answer = requests.post(info["base_url"] + API_PATH, timeout=5,
                                   json={"query": "{ customers(first: 1) { nodes { id } } }"},
                                   headers={"X-Shopify-Access-Token": info["password"]}).json()
            assert answer["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 1000.0
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
            assert info["password"] not in process.stderr.read()
        finally:
            process.kill()


# -- the vendor's SDL --

def _type_names(schema: graphql.GraphQLSchema) -> list[str]:
    return [name for name, kind in schema.type_map.items()
            if not graphql.is_introspection_type(kind) and not graphql.is_specified_scalar_type(kind)]


def _default(argument) -> str | None:
    node = argument.ast_node.default_value if argument.ast_node else None
    return graphql.print_ast(node) if node else None


def test_the_sandbox_schema_is_a_subset_of_shopifys(vendor_schema):
    ours = graphql_schema.schema()
    assert (ours.query_type.name, ours.mutation_type.name) == (vendor_schema.query_type.name,
                                                               vendor_schema.mutation_type.name)
    for name in _type_names(ours):
        mine, theirs = ours.get_type(name), vendor_schema.get_type(name)
        assert type(mine) is type(theirs), name
        if isinstance(mine, graphql.GraphQLEnumType):
            assert set(mine.values) <= set(theirs.values), name
        for field_name, field in getattr(mine, "fields", {}).items():
            vendor_field = theirs.fields.get(field_name)
            assert vendor_field is not None and str(field.type) == str(vendor_field.type), f"{name}.{field_name}"
            for arg_name, arg in getattr(field, "args", {}).items():
                vendor_arg = vendor_field.args.get(arg_name)
                assert vendor_arg is not None, f"{name}.{field_name}({arg_name})"
                assert (str(arg.type), _default(arg)) == (str(vendor_arg.type), _default(vendor_arg)), arg_name


def test_the_adapters_queries_are_valid_against_shopifys_schema(vendor_schema):
    change = Change("gid://shopify/Customer/7100000001", {
        "firstName": "Ana", "phone": "+14155550123", "emailMarketingConsent": {"marketingState": "SUBSCRIBED"},
        "smsMarketingConsent": {"marketingState": "UNSUBSCRIBED"}})
    document, variables, _ = mutation_document([change, change])
    assert len(variables) == 6
    for query in (*READS.values(), document, CREATE, lookup_document(3), erasure_document(3)):
        assert graphql.validate(vendor_schema, graphql.parse(query)) == []


def test_the_sandboxs_answers_fit_shopifys_schema(start, vendor_schema):
    """Re-executes each answer on Shopify's schema: a missing non-null field, an unknown enum value or
    a wrong shape fails there, so what the sandbox sends is what Shopify could send."""
    sandbox = start()
    gid = "gid://shopify/Customer/7100000001"
    answers = [(READS["customers"], {"first": 250, "after": None, "query": None}),
               (READS["orders"], {"first": 250, "after": None, "query": "updated_at:>='2025-01-01T00:00:00Z'"}),
               (UPDATE, {"input": {"id": gid, "firstName": "Ana", "phone": "+14155550123"}}),
               (UPDATE, {"input": {"id": gid, "phone": "no"}}),
               (CREATE, {"input": {"firstName": "Ana", "tags": ["concord:cus_1"],
                                   "smsMarketingConsent": {"marketingState": "PENDING"}, "phone": "+14155550124"}}),
               (CREATE, {"input": {"email": "no"}}),
               (lookup_document(2), {"k0": "tag:'concord:cus_1'", "k1": "tag:'concord:cus_2'"}),
               (erasure_document(2), {"e0": gid, "e1": "gid://shopify/Customer/1"})]
    for query, variables in answers:
        data = run(sandbox, query, **variables)["data"]
        again = graphql.execute(vendor_schema, graphql.parse(query), root_value=data, variable_values=variables,
                                field_resolver=_by_response_key)
        assert again.errors is None and again.data == data
        _assert_timestamps(data)


def _by_response_key(source, info, **_arguments):
    # The adapter aliases its fields (c0_0, k0, e0): the answer holds them under the alias.
    return source.get(info.path.key) if isinstance(source, dict) else None


def _assert_timestamps(value) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("At") and item is not None:
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item), (key, item)
            _assert_timestamps(item)
    elif isinstance(value, list):
        for item in value:
            _assert_timestamps(item)
