"""HubSpot passes the adapter contract against its sandbox."""
from __future__ import annotations

import time
from dataclasses import replace

import requests

from adapters.base import Change
from adapters.hubspot.client import HubSpotAdapter
from adapters.hubspot.sandbox import HubSpotSandbox
from adapters.testing import Harness, contract_suite
from adapters.world import World
from canonical.sandboxes import endpoint_of

SEED, PEOPLE = 3, 40
ALL_PROPERTIES = ("email,firstname,lastname,phone,mobilephone,address,city,state,zip,country,date_of_birth,"
                  "concord_customer_id")
# The properties that name or reach a person: none may be served once the contact is erased.
PERSONAL = ("email", "firstname", "lastname", "phone", "mobilephone", "address", "city", "state", "zip",
            "date_of_birth")


def start(state_dir, faults=None):
    # Limits far above what a test sends, so that only injected faults throttle.
    return HubSpotSandbox(state_dir=state_dir, seed=SEED, customers=PEOPLE, faults=faults, rate_limit=100_000,
                          search_rate_limit=100_000, daily_limit=10_000_000)


def build(sandbox, max_wait=30.0, **overrides):
    # Pages of 5 make every read span several pages of both streams.
    return HubSpotAdapter(replace(endpoint_of(sandbox.info()), **overrides), max_wait=max_wait, page_size=5)


def _headers(sandbox):
    return {"Authorization": f"Bearer {sandbox.token}"}


def touch(sandbox, source_id):
    requests.patch(f"{sandbox.base_url}/crm/v3/objects/contacts/{source_id}", headers=_headers(sandbox), timeout=10,
                   json={"properties": {"firstname": f"Touched {time.time_ns()}"}}).raise_for_status()


def read_back(sandbox, source_id):
    """The contact with every property, and its marketing subscription status as the adapter attaches it;
    None once HubSpot answers 404 (deleted for good)."""
    response = requests.get(f"{sandbox.base_url}/crm/v3/objects/contacts/{source_id}", headers=_headers(sandbox),
                            params={"properties": ALL_PROPERTIES}, timeout=10)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    contact = response.json()
    address = contact["properties"].get("email")
    if address:
        answer = requests.post(f"{sandbox.base_url}/communication-preferences/v4/statuses/batch/read",
                               params={"channel": "EMAIL"}, json={"inputs": [address.strip()]},
                               headers=_headers(sandbox), timeout=10).json()
        # A malformed address has no status: HubSpot lists it under errors, not results.
        contact["emailSubscription"] = next((r["statuses"][0] for r in answer["results"]), None)
    return contact


def sample_create(key):
    return Change(None, {"properties": {"firstname": "Nova", "lastname": "Reyes", "email": f"{key}@example.org"}},
                  key=key)


def erased(raw) -> bool:
    return raw is None or not any((raw.get("properties") or {}).get(name) for name in PERSONAL)


def written(record, change) -> bool:
    properties = all(record["properties"].get(k) == v for k, v in change.patch.get("properties", {}).items())
    wanted = change.patch.get("emailSubscription", {}).get("status")
    return properties and (wanted is None or record.get("emailSubscription", {}).get("status") == wanted)


def expected_ids(sandbox):
    """From the world, not the sandbox: every HubSpot view is a contact; an email event exists for every
    activity whose contact has an address mail can go to, and for every orphan."""
    world = World(sandbox.seed, sandbox.customers)
    views = world.views("hubspot")
    sendable = {v.source_id for v in views if v.email and v.email.strip() and v.malformed != "email"}
    events = {a.source_id for a in world.activities("hubspot") if a.person_id is None or a.customer_ref in sendable}
    return {"contacts": {v.source_id for v in views}, "email_events": events}


TestHubSpotContract = contract_suite(Harness(
    system="hubspot",
    start=start,
    build=build,
    touch=touch,
    sample_write=lambda source_id: Change(source_id, {"properties": {
        "concord_customer_id": f"cus_contract_{source_id}", "lastname": "Contract-Lima"}}),
    read_back=read_back,
    written=written,
    future_cursor=lambda: {"high": "2100-01-01T00:00:00.000Z", "seen": {}},
    expected_ids=expected_ids,
    sample_create=sample_create,
    erased=erased,
))
