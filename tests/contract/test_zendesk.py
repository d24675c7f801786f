"""Zendesk passes the adapter contract against its sandbox."""
from __future__ import annotations

import time
from dataclasses import replace

import requests

from adapters.base import Change
from adapters.testing import Harness, contract_suite
from adapters.zendesk.client import ZendeskAdapter
from adapters.zendesk.sandbox import ZendeskSandbox
from adapters.zendesk.seed import seed
from canonical.sandboxes import endpoint_of

SEED, CUSTOMERS = 3, 150


def start(state_dir, faults=None):
    # No "most recent minute" hold-back and no rate limit, so a test sees its own changes at once.
    return ZendeskSandbox(state_dir=state_dir, seed=SEED, customers=CUSTOMERS, recent_window=0,
                          rate_limit=100_000, export_rate_limit=100_000, faults=faults)


def build(sandbox, max_wait=30.0, **overrides):
    return ZendeskAdapter(replace(endpoint_of(sandbox.info()), **overrides), max_wait=max_wait, page_size=25)


def _auth(sandbox):
    return (f"{sandbox.email}/token", sandbox.api_token)


def touch(sandbox, source_id):
    requests.put(f"{sandbox.base_url}/api/v2/users/{source_id}.json", auth=_auth(sandbox), timeout=10,
                 json={"user": {"tags": ["touched", str(time.time_ns())]}}).raise_for_status()


def read_back(sandbox, source_id):
    response = requests.get(f"{sandbox.base_url}/api/v2/users/{source_id}.json", auth=_auth(sandbox), timeout=10)
    return response.json()["user"]


def expected_ids(_sandbox):
    users, tickets = seed(SEED, CUSTOMERS)
    return {"users": {str(u["id"]) for u in users}, "tickets": {str(t["id"]) for t in tickets}}


TestZendeskContract = contract_suite(Harness(
    system="zendesk",
    start=start,
    build=build,
    touch=touch,
    sample_write=lambda source_id: Change(source_id, {"external_id": f"cus_contract_{source_id}"}),
    read_back=read_back,
    written=lambda record, change: record.get("external_id") == change.patch["external_id"],
    future_cursor=lambda: {"start_time": int(time.time()) + 86_400},
    expected_ids=expected_ids,
))
