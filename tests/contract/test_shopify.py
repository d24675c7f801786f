"""Shopify passes the adapter contract against its sandbox."""
from __future__ import annotations

import time
from dataclasses import replace

import requests

from adapters.base import Change
from adapters.shopify.client import CUSTOMER_FIELDS, ShopifyAdapter
from adapters.shopify.sandbox import API_PATH, ShopifySandbox
from adapters.testing import Harness, contract_suite
from adapters.world import World
from canonical import mapping as mappings
from canonical.sandboxes import endpoint_of

SEED, PEOPLE = 3, 150
READ_BACK = "query($id: ID!) { customer(id: $id) { ...CustomerFields } }" + CUSTOMER_FIELDS
TOUCH = "mutation($input: CustomerInput!) { customerUpdate(input: $input) { userErrors { field message } } }"


def start(state_dir, faults=None):
    # A cost bucket too deep to run dry: only injected faults throttle.
    return ShopifySandbox(state_dir=state_dir, seed=SEED, customers=PEOPLE, faults=faults,
                          maximum_available=1e9, restore_rate=1e9)


def build(sandbox, max_wait=30.0, **overrides):
    return ShopifyAdapter(replace(endpoint_of(sandbox.info()), **overrides), max_wait=max_wait, page_size=25)


def graphql(sandbox, query: str, **variables) -> dict:
    response = requests.post(sandbox.base_url + API_PATH, json={"query": query, "variables": variables},
                             headers={"X-Shopify-Access-Token": sandbox.access_token}, timeout=10)
    response.raise_for_status()
    return response.json()["data"]


def touch(sandbox, source_id):
    answer = graphql(sandbox, TOUCH, input={"id": source_id, "note": f"touched {time.time_ns()}"})
    assert answer["customerUpdate"]["userErrors"] == []


def read_back(sandbox, source_id):
    # Shopify answers an unknown customer with null, its GraphQL "404".
    return graphql(sandbox, READ_BACK, id=source_id)["customer"]


def sample_write(source_id):
    # Through the mapping, as the sync writes; the phone is set before the SMS consent that needs it.
    canonical = {"given_name": "Ana", "family_name": "Contract", "phones": ["+14155550123"],
                 "consent.sms.status": "unsubscribed"}
    return Change(source_id, mappings.load("shopify").customers.to_source(canonical))


def sample_create(key):
    # A new customer in Shopify's names, with an email of its own: Shopify refuses a taken one.
    return Change(None, {"firstName": "Nova", "lastName": "Contract", "email": f"{key}@create.example",
                         "emailMarketingConsent": {"marketingState": "SUBSCRIBED"}}, key=key)


def erased(raw):
    """Whether nothing personal is left: Shopify's erasure removes the customer, so None."""
    return raw is None or not any(raw.get(k) for k in ("firstName", "lastName", "email", "phone", "defaultAddress"))


def holds(record: dict, patch: dict) -> bool:
    """Whether the raw record holds every value of the (nested) patch."""
    return all(holds(record.get(k) or {}, v) if isinstance(v, dict) else record.get(k) == v for k, v in patch.items())


def expected_ids(_sandbox):
    world = World(SEED, PEOPLE)
    return {"customers": {v.source_id for v in world.views("shopify")},
            "orders": {a.source_id for a in world.activities("shopify")}}


TestShopifyContract = contract_suite(Harness(
    system="shopify",
    start=start,
    build=build,
    touch=touch,
    sample_write=sample_write,
    read_back=read_back,
    written=lambda record, change: holds(record, change.patch),
    future_cursor=lambda: {"high": "2099-01-01T00:00:00.000Z", "seen": {}},
    expected_ids=expected_ids,
    sample_create=sample_create,
    erased=erased,
))
