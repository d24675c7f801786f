"""Zendesk passes the adapter contract against its sandbox, plus what its create and erase add to it."""
from __future__ import annotations

import math
import time
import zlib
from dataclasses import replace

import pytest
import requests

from adapters.base import Change
from adapters.testing import Harness, contract_suite
from adapters.zendesk.client import ZendeskAdapter
from adapters.zendesk.sandbox import ZendeskSandbox
from adapters.zendesk.seed import seed
from canonical.sandboxes import endpoint_of

SEED, CUSTOMERS = 3, 150
PERSONAL = ("name", "email", "phone", "external_id")  # what identifies a person in a Zendesk user


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
    """The user as GET /users/{id} serves it; None once Zendesk answers 404 (permanently deleted)."""
    response = requests.get(f"{sandbox.base_url}/api/v2/users/{source_id}.json", auth=_auth(sandbox), timeout=10)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()["user"]


def sample_create(key):
    # No email: create_or_update would match a retry on it too, and then only the key is under test.
    return Change(None, {"name": f"New Customer {key}", "phone": f"+1415555{zlib.crc32(key.encode()) % 10_000:04d}"},
                  key=key)


def erased(raw):
    return raw is None or not any(raw.get(field) for field in PERSONAL)


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
    sample_create=sample_create,
    erased=erased,
))


@pytest.fixture
def sandbox(tmp_path):
    with start(tmp_path / "sandbox") as running:
        yield running


def export(sandbox):
    """Every user the incremental export serves, by id."""
    pages = build(sandbox).read("users", None)
    return {raw["id"]: raw for page in pages for raw in page.records}


def test_erase_is_safe_to_retry_and_an_unknown_user_is_nothing_to_erase(sandbox):
    adapter = build(sandbox)
    victim = sorted(expected_ids(sandbox)["users"])[0]
    results = adapter.erase([victim]) + adapter.erase([victim, "999999999"])
    assert [(r.source_id, r.ok, r.reason) for r in results] == [
        (victim, True, None), (victim, True, None), ("999999999", True, None)]
    assert read_back(sandbox, victim) is None and erased(export(sandbox)[int(victim)])


def test_erase_finishes_a_user_that_was_only_soft_deleted(sandbox):
    victim = sorted(expected_ids(sandbox)["users"])[2]
    requests.delete(f"{sandbox.base_url}/api/v2/users/{victim}.json", auth=_auth(sandbox),
                    timeout=10).raise_for_status()
    assert not erased(read_back(sandbox, victim))  # a soft delete alone scrubs nothing
    [result] = build(sandbox).erase([victim])
    assert result.ok and read_back(sandbox, victim) is None


def test_erase_reports_a_404_that_is_not_zendesks_record_not_found(sandbox):
    # A wrong base URL answers 404 InvalidEndpoint: that must not pass for "already erased".
    adapter = build(sandbox, base_url=f"{sandbox.base_url}/not-zendesk")
    victim = sorted(expected_ids(sandbox)["users"])[0]
    [result] = adapter.erase([victim])
    assert not result.ok and "404" in result.reason and not result.retriable
    assert not erased(read_back(sandbox, victim))


def test_erase_refuses_what_is_not_a_user_id(sandbox):
    [result] = build(sandbox).erase(["12/../34"])
    assert not result.ok and result.reason == "zendesk: not a Zendesk user id"
    assert sandbox.stats["requests"] == 0


def test_a_create_answers_with_the_new_users_id_and_sets_the_key_as_external_id(sandbox):
    change = sample_create("cus_created")
    [result] = build(sandbox).write([change])
    assert result.ok and result.record["action"] == "create"
    user = read_back(sandbox, result.source_id)
    assert user["external_id"] == "cus_created" and user["phone"] == change.patch["phone"]


def test_a_create_without_a_key_is_refused_before_any_request(sandbox):
    [result] = build(sandbox).write([Change(None, {"name": "No Key", "email": "no.key@contract.example"})])
    assert (result.source_id, result.ok) == ("", False) and "key" in result.reason
    assert sandbox.stats["requests"] == 0


def test_a_refused_create_names_the_field_but_not_its_value(sandbox):
    change = Change(None, {"name": "Bad Address", "email": "bad.address(at)contract.example"}, key="cus_bad")
    [result] = build(sandbox).write([change])
    assert not result.ok and not result.retriable
    assert result.reason == "zendesk: RecordInvalid (email)"  # the job's details quote the value


def test_many_writes_go_100_users_a_job_and_each_result_is_its_own(sandbox):
    users = sorted(expected_ids(sandbox)["users"], key=int)
    changes = [Change(u, {"external_id": f"cus_many_{round_}_{u}"}) for round_ in "ab" for u in users]
    changes.append(Change(users[1], {"external_id": f"cus_many_b_{users[0]}"}))  # taken by an earlier change
    changes.append(Change(None, {"name": "Bulk Create"}, key="cus_many_new"))
    results = build(sandbox).write(changes)
    assert len(changes) > 2 * 50 and [r.ok for r in results] == [True] * (2 * len(users)) + [False, True]
    assert results[-2].reason == "zendesk: RecordInvalid (external)" and not results[-2].retriable
    assert read_back(sandbox, results[-1].source_id)["external_id"] == "cus_many_new"
    assert all(read_back(sandbox, u)["external_id"] == f"cus_many_b_{u}" for u in users)
    # ceil(len / 100) update_many + 1 create_or_update_many + a status poll or two: no request per user
    assert sandbox.stats["requests"] - 2 * len(users) <= 6 + math.ceil(len(changes) / 100)


def test_jobs_that_never_finish_are_retriable_failures(sandbox):
    sandbox.jobs.stop()
    source_id = sorted(expected_ids(sandbox)["users"])[0]
    [result] = build(sandbox, max_wait=1.0).write([Change(source_id, {"external_id": "cus_stuck"})])
    assert (result.ok, result.retriable) == (False, True) and "sending it again is safe" in result.reason
