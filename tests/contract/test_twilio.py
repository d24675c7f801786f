"""Twilio passes the adapter contract against its sandbox."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from urllib.parse import quote

import requests

from adapters.base import Change
from adapters.testing import Harness, contract_suite
from adapters.twilio.client import TwilioAdapter
from adapters.twilio.sandbox import TwilioSandbox
from adapters.world import World
from canonical.sandboxes import endpoint_of

SEED, CUSTOMERS = 5, 150


def start(state_dir, faults=None):
    # A rate limit no test reaches: the contract is about reads and writes, not pacing.
    return TwilioSandbox(state_dir=state_dir, seed=SEED, customers=CUSTOMERS, rate_limit=100_000, faults=faults)


def build(sandbox, max_wait=30.0, **overrides):
    # Small pages, so that every read spans several of them.
    return TwilioAdapter(replace(endpoint_of(sandbox.info()), **overrides), max_wait=max_wait, page_size=20)


def _item_url(sandbox, key):
    return f"{sandbox.base_url}/v1/Services/{sandbox.service_sid}/Maps/{sandbox.map_sid}/Items/{quote(key, safe='')}"


def _auth(sandbox):
    return (sandbox.account_sid, sandbox.auth_token)


def read_back(sandbox, key):
    """The map item, or None once Sync answers 404 (deleted)."""
    response = requests.get(_item_url(sandbox, key), auth=_auth(sandbox), timeout=10)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()


def touch(sandbox, key):
    data = {**read_back(sandbox, key)["data"], "touched": time.time_ns()}
    requests.post(_item_url(sandbox, key), data={"Data": json.dumps(data)}, auth=_auth(sandbox),
                  timeout=10).raise_for_status()


def sample_create(customer_id):
    """A new caller: a number of exchange 555 outside 01xx, which no person of the world owns."""
    number = f"+1202555{200 + int(hashlib.sha256(customer_id.encode()).hexdigest(), 16) % 9800:04d}"
    return Change(None, {"key": number, "data": {"name": "New Caller", "email": f"{customer_id}@example.com",
                                                 "consent_sms": True}}, key=customer_id)


def erased(raw):
    # The item's key is the number itself: any item still served holds personal data.
    return raw is None


def written(record, change):
    return all(record["data"].get(field) == value for field, value in change.patch["data"].items())


def expected_ids(sandbox):
    world = World(SEED, CUSTOMERS)
    return {"callers": {view.source_id for view in world.views("twilio")},
            "calls": {activity.source_id for activity in world.activities("twilio")}}


TestTwilioContract = contract_suite(Harness(
    system="twilio",
    start=start,
    build=build,
    touch=touch,
    sample_write=lambda key: Change(key, {"data": {"concord_customer_id": f"cus_contract_{key}"}}),
    read_back=read_back,
    written=written,
    future_cursor=lambda: {"high": "2999-01-01T00:00:00.000Z", "seen": {}},
    expected_ids=expected_ids,
    sample_create=sample_create,
    erased=erased,
))


def test_a_write_on_what_was_read_never_overwrites_an_edit_made_since(tmp_path):
    with start(tmp_path) as sandbox:
        adapter = build(sandbox)
        seen = next(iter(adapter.read("callers", None))).records[0]
        key = seen["key"]
        data = {**seen["data"], "name": "Edited By An Agent"}  # an agent's edit after Concord's read
        requests.post(_item_url(sandbox, key), data={"Data": json.dumps(data)}, auth=_auth(sandbox),
                      timeout=10).raise_for_status()
        stale = adapter.write([Change(key, {"data": {"name": "From Concord"}}, seen=seen)])[0]
        assert not stale.ok and stale.retriable and "412" in stale.reason
        assert read_back(sandbox, key)["data"]["name"] == "Edited By An Agent"
        fresh = read_back(sandbox, key)  # read again: now the write goes through, keeping the rest
        written = adapter.write([Change(key, {"data": {"name": "From Concord"}}, seen=fresh)])[0]
        assert written.ok
        assert read_back(sandbox, key)["data"] == {**fresh["data"], "name": "From Concord"}
