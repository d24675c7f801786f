"""Integration tests for the Zendesk sandbox: real HTTP on 127.0.0.1, state in tmp_path.

They pin the behaviours the Zendesk adapter relies on (auth, the cursor export and its
recent-minute gap, upsert status codes, 422 bodies, rate limiting, persistence) so the
sandbox cannot drift away from what real Zendesk does.
"""

from __future__ import annotations

import calendar
import json
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from adapters.world import World
from adapters.zendesk.sandbox import ZendeskSandbox
from adapters.zendesk.seed import seed_users
from tests.conftest import REPO

CUSTOMERS = 60
EXPORT = "/api/v2/incremental/users/cursor.json"


@pytest.fixture
def start(tmp_path):
    """Start sandboxes on tmp_path (generous limits unless overridden); stop them all afterwards."""
    started: list[ZendeskSandbox] = []

    def _start(**overrides) -> ZendeskSandbox:
        options = dict(state_dir=tmp_path, customers=CUSTOMERS, recent_window=0,
                       rate_limit=10_000, export_rate_limit=10_000)
        sandbox = ZendeskSandbox(**{**options, **overrides}).start()
        started.append(sandbox)
        return sandbox

    yield _start
    for sandbox in started:
        sandbox.stop()


def client(sandbox: ZendeskSandbox) -> requests.Session:
    session = requests.Session()
    session.auth = (f"{sandbox.email}/token", sandbox.api_token)
    return session


def export_all(sandbox: ZendeskSandbox, session: requests.Session, **params) -> tuple[list[dict], dict]:
    """Follow the export to end_of_stream; returns every user and the last page body."""
    body = session.get(sandbox.base_url + EXPORT, params=params).json()
    users = list(body["users"])
    for _ in range(200):
        if body["end_of_stream"]:
            return users, body
        body = session.get(body["after_url"]).json()
        users += body["users"]
    raise AssertionError("export never reached end_of_stream")


def put_user(sandbox: ZendeskSandbox, session: requests.Session, user_id: int, **fields) -> requests.Response:
    return session.put(f"{sandbox.base_url}/api/v2/users/{user_id}.json", json={"user": fields})


def upsert(sandbox: ZendeskSandbox, session: requests.Session, **fields) -> requests.Response:
    return session.post(f"{sandbox.base_url}/api/v2/users/create_or_update.json", json={"user": fields})


def test_seed_users_serve_the_worlds_zendesk_views_and_mark_malformed_records():
    users, malformed = seed_users(7, 600)
    views = World(7, 600).views("zendesk")  # a fresh world: the seed must not depend on a cache
    assert [str(u["id"]) for u in users] == [v.source_id for v in views]
    assert seed_users(8, 600)[0] != users
    emails = [u["email"].strip().lower() for u in users if u["email"]]
    assert len(emails) == len(set(emails))  # Zendesk keeps an address on one user only
    assert all(u["updated_at"] >= u["created_at"] for u in users)
    assert set(malformed.values()) == {"email", "phone"}
    by_id = {u["id"]: u for u in users}
    for user_id, field in malformed.items():
        value = by_id[user_id][field]
        assert "@" not in value if field == "email" else re.search("[a-z]", value)
    assert len(seed_users(1, 500)[1]) >= 2


def test_requests_without_or_with_wrong_credentials_get_401(start):
    sandbox = start()
    url = sandbox.base_url + "/api/v2/users.json"
    wrong = requests.get(url, auth=(f"{sandbox.email}/token", "not-the-token"))
    for response in (requests.get(url), wrong):
        assert response.status_code == 401
        assert response.json() == {"error": "Couldn't authenticate you"}
    assert client(sandbox).get(url).status_code == 200


def test_full_export_returns_every_seeded_user_exactly_once(start):
    sandbox = start()
    users, last = export_all(sandbox, client(sandbox), start_time=0, per_page=7)
    ids = [u["id"] for u in users]
    assert sorted(ids) == sorted(u["id"] for u in seed_users(1, CUSTOMERS)[0])
    assert len(ids) == len(set(ids))
    keys = [(u["updated_at"], u["id"]) for u in users]
    assert keys == sorted(keys)
    assert last["end_of_stream"] is True and last["after_cursor"]
    # Seeded malformed records are served as they are; only writes are validated.
    by_id = {u["id"]: u for u in users}
    assert all("@" not in by_id[i]["email"] for i, f in seed_users(1, CUSTOMERS)[1].items() if f == "email")
    assert users[0]["url"] == f"{sandbox.base_url}/api/v2/users/{users[0]['id']}.json"


def test_resuming_from_last_cursor_returns_only_the_changed_user(start):
    sandbox = start()
    session = client(sandbox)
    users, last = export_all(sandbox, session, start_time=0, per_page=25)
    resumed = session.get(sandbox.base_url + EXPORT, params={"cursor": last["after_cursor"]}).json()
    assert resumed["users"] == [] and resumed["end_of_stream"] is True
    assert resumed["after_cursor"] == last["after_cursor"]
    assert put_user(sandbox, session, users[3]["id"], phone="+1 415 555 0100").status_code == 200
    changed, _ = export_all(sandbox, session, cursor=last["after_cursor"])
    assert [(u["id"], u["phone"]) for u in changed] == [(users[3]["id"], "+1 415 555 0100")]


def test_recent_window_hides_records_changed_in_the_last_minute(start):
    sandbox = start(recent_window=60)
    session = client(sandbox)
    before, _ = export_all(sandbox, session, start_time=0)
    assert put_user(sandbox, session, before[0]["id"], name="Renamed Person").status_code == 200
    after, _ = export_all(sandbox, session, start_time=0)
    assert {u["id"] for u in before} - {u["id"] for u in after} == {before[0]["id"]}


def test_put_moves_updated_at_only_when_something_changes(start):
    sandbox = start()
    session = client(sandbox)
    user = session.get(f"{sandbox.base_url}/api/v2/users.json").json()["users"][0]
    same = put_user(sandbox, session, user["id"], name=user["name"], tags=user["tags"]).json()["user"]
    assert same["updated_at"] == user["updated_at"]
    changed = put_user(sandbox, session, user["id"], name=user["name"] + " Jr").json()["user"]
    moved_to = calendar.timegm(time.strptime(changed["updated_at"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(moved_to - time.time()) < 5


def test_create_or_update_answers_201_then_200_for_the_same_person(start):
    sandbox = start()
    session = client(sandbox)
    created = upsert(sandbox, session, name="Ana Lima", email="Ana.Lima@Example.com", external_id="crm-1")
    assert created.status_code == 201
    by_email = upsert(sandbox, session, email="ana.lima@example.com", phone="4155550134")
    by_external_id = upsert(sandbox, session, external_id="crm-1", tags=["vip"])
    assert (by_email.status_code, by_external_id.status_code) == (200, 200)
    user_id = created.json()["user"]["id"]
    assert by_email.json()["user"]["id"] == by_external_id.json()["user"]["id"] == user_id
    assert by_external_id.json()["user"]["phone"] == "4155550134"


def test_invalid_email_and_duplicate_external_id_get_422_bodies(start):
    sandbox = start()
    session = client(sandbox)
    bad = upsert(sandbox, session, name="No At", email="maria.garcia(at)example.com")
    assert bad.status_code == 422
    assert bad.json() == {"error": "RecordInvalid", "description": "Record validation errors", "details": {
        "email": [{"description": "Email: maria.garcia(at)example.com is not properly formatted",
                   "error": "InvalidFormat"}]}}
    upsert(sandbox, session, name="First", email="first@example.com", external_id="ext-1")
    other = session.get(f"{sandbox.base_url}/api/v2/users.json").json()["users"][0]
    duplicate = put_user(sandbox, session, other["id"], external_id="ext-1", email="FIRST@example.com")
    assert duplicate.status_code == 422
    details = duplicate.json()["details"]
    assert details["external_id"][0]["error"] == details["email"][0]["error"] == "DuplicateValue"
    broken = session.put(f"{sandbox.base_url}/api/v2/users/{other['id']}.json", data=b"{")
    assert (broken.status_code, broken.json()["error"]) == (400, "InvalidJSON")


def test_export_rejects_missing_position_and_bad_cursor(start):
    sandbox = start()
    session = client(sandbox)
    missing = session.get(sandbox.base_url + EXPORT)
    assert missing.status_code == 400
    assert missing.json() == {"error": "InvalidValue", "description": "start_time or cursor is required"}
    assert session.get(sandbox.base_url + EXPORT, params={"cursor": "%%%not-a-cursor"}).status_code == 400


def test_rate_limit_answers_429_with_retry_after(start):
    sandbox = start(rate_limit=5, export_rate_limit=2)
    session = client(sandbox)
    url = sandbox.base_url + "/api/v2/users.json"
    remaining = [session.get(url).headers["X-Rate-Limit-Remaining"] for _ in range(5)]
    assert remaining == ["4", "3", "2", "1", "0"]
    limited = session.get(url)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1 and limited.headers["X-Rate-Limit"] == "5"
    assert limited.json() == {"error": "TooManyRequests", "description": "Rate limit exceeded"}
    # The export has a bucket of its own.
    assert session.get(sandbox.base_url + EXPORT, params={"start_time": 0}).status_code == 200
    assert sandbox.stats["429"] == 1


def test_fault_injection_answers_503_without_acting(start):
    sandbox = start(fault_rate=1.0)
    session = client(sandbox)
    response = upsert(sandbox, session, name="Never Stored", email="never@example.com")
    assert response.status_code == 503 and response.json() == {"error": "ServiceUnavailable"}
    sandbox.faults.error_rate = 0.0
    assert upsert(sandbox, session, name="Stored", email="never@example.com").status_code == 201


def test_state_and_token_survive_a_restart(start):
    first = start()
    session = client(first)
    user_id = session.get(f"{first.base_url}/api/v2/users.json").json()["users"][0]["id"]
    put_user(first, session, user_id, phone="415.555.0199")
    token = first.api_token
    first.stop()
    second = start()
    assert second.api_token == token
    user = client(second).get(f"{second.base_url}/api/v2/users/{user_id}.json").json()["user"]
    assert user["phone"] == "415.555.0199"


def test_seed_mismatch_raises_unless_reset(start, tmp_path):
    start().stop()
    with pytest.raises(ValueError, match="pass --reset"):
        ZendeskSandbox(state_dir=tmp_path, customers=CUSTOMERS, seed=2)
    reseeded = start(seed=2, reset=True)
    assert reseeded.info()["seed"] == 2


def test_main_prints_one_json_line_and_stops_on_sigterm(tmp_path):
    command = [sys.executable, "-c", "from adapters.zendesk.sandbox import main; raise SystemExit(main())",
               "--port", "0", "--customers", "30", "--state-dir", str(tmp_path)]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            info = json.loads(process.stdout.readline())
            assert info["system"] == "zendesk" and info["customers"] == 30
            auth = (f"{info['email']}/token", info["api_token"])
            assert requests.get(info["base_url"] + "/api/v2/users.json", auth=auth, timeout=5).status_code == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
            assert info["api_token"] not in process.stderr.read()
        finally:
            process.kill()


def delete(sandbox: ZendeskSandbox, session: requests.Session, path: str) -> requests.Response:
    return session.delete(f"{sandbox.base_url}/api/v2/{path}")


def test_soft_delete_keeps_the_user_whole_and_only_turns_it_inactive(start):
    sandbox = start()
    session = client(sandbox)
    user = session.get(f"{sandbox.base_url}/api/v2/users.json").json()["users"][0]
    deleted = delete(sandbox, session, f"users/{user['id']}.json")
    assert deleted.status_code == 200
    body = deleted.json()["user"]
    assert body["active"] is False and body["updated_at"] >= user["updated_at"]
    assert {k: v for k, v in body.items() if k not in ("active", "updated_at")} == \
        {k: v for k, v in user.items() if k not in ("active", "updated_at")}
    assert session.get(f"{sandbox.base_url}/api/v2/users/{user['id']}.json").json()["user"] == body
    again = delete(sandbox, session, f"users/{user['id']}.json")  # a retried soft delete changes nothing
    assert (again.status_code, again.json()["user"]) == (200, body)


def test_permanent_deletion_answers_204_and_leaves_only_a_tombstone_in_the_export(start):
    sandbox = start()
    session = client(sandbox)
    user = upsert(sandbox, session, name="Ana Lima", email="ana.lima@example.com", phone="+14155550134",
                  external_id="crm-1", tags=["vip"]).json()["user"]
    assert delete(sandbox, session, f"users/{user['id']}.json").status_code == 200
    gone = delete(sandbox, session, f"deleted_users/{user['id']}.json")
    assert (gone.status_code, gone.content) == (204, b"") and "Content-Type" not in gone.headers
    missing = session.get(f"{sandbox.base_url}/api/v2/users/{user['id']}.json")
    assert missing.status_code == 404 and missing.json() == {"error": "RecordNotFound", "description": "Not found"}
    assert put_user(sandbox, session, user["id"], name="Back Again").status_code == 404
    listed = session.get(f"{sandbox.base_url}/api/v2/users.json", params={"page[size]": 100}).json()["users"]
    assert {u["id"] for u in listed} == {u["id"] for u in seed_users(1, CUSTOMERS)[0]}
    [tombstone] = [u for u in export_all(sandbox, session, start_time=0)[0] if u["id"] == user["id"]]
    assert tombstone["active"] is False and tombstone["created_at"] == user["created_at"]
    for field in ("name", "email", "phone", "external_id", "organization_id", "time_zone", "locale"):
        assert tombstone[field] is None, field
    assert (tombstone["tags"], tombstone["user_fields"]) == ([], {})
    assert "ana" not in json.dumps(tombstone).lower() and "0134" not in json.dumps(tombstone)


def test_the_deleted_tombstone_is_a_change_for_an_export_resumed_before_the_deletion(start):
    sandbox = start()
    session = client(sandbox)
    users, last = export_all(sandbox, session, start_time=0, per_page=25)
    victim = users[5]["id"]
    delete(sandbox, session, f"users/{victim}.json")
    delete(sandbox, session, f"deleted_users/{victim}.json")
    changed, _ = export_all(sandbox, session, cursor=last["after_cursor"])
    assert [(u["id"], u["active"], u["name"], u["email"]) for u in changed] == [(victim, False, None, None)]


def test_permanent_deletion_needs_a_soft_delete_first_and_is_404_once_done(start):
    sandbox = start()
    session = client(sandbox)
    user = session.get(f"{sandbox.base_url}/api/v2/users.json").json()["users"][0]
    not_yet = delete(sandbox, session, f"deleted_users/{user['id']}.json")
    assert not_yet.status_code == 404 and not_yet.json()["error"] == "RecordNotFound"
    assert session.get(f"{sandbox.base_url}/api/v2/users/{user['id']}.json").json()["user"] == user
    delete(sandbox, session, f"users/{user['id']}.json")
    assert delete(sandbox, session, f"deleted_users/{user['id']}.json").status_code == 204
    for path in (f"users/{user['id']}.json", f"deleted_users/{user['id']}.json", "users/999999999.json",
                 "deleted_users/999999999.json"):
        answer = delete(sandbox, session, path)
        assert (answer.status_code, answer.json()["error"]) == (404, "RecordNotFound"), path


def test_an_erased_users_email_and_external_id_are_free_again_and_the_erasure_survives_a_restart(start):
    first = start()
    session = client(first)
    user = upsert(first, session, name="Ana Lima", email="ana.lima@example.com", external_id="crm-1").json()["user"]
    delete(first, session, f"users/{user['id']}.json")
    delete(first, session, f"deleted_users/{user['id']}.json")
    first.stop()
    second = start()
    session = client(second)
    assert session.get(f"{second.base_url}/api/v2/users/{user['id']}.json").status_code == 404
    again = upsert(second, session, name="Ana Lima", email="ana.lima@example.com", external_id="crm-1")
    assert again.status_code == 201 and again.json()["user"]["id"] != user["id"]


def wait_for_job(sandbox: ZendeskSandbox, session: requests.Session, job_id: str) -> dict:
    for _ in range(200):
        job = session.get(f"{sandbox.base_url}/api/v2/job_statuses/{job_id}.json").json()["job_status"]
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(0.02)
    raise AssertionError("the job never finished")


def test_update_many_queues_a_job_whose_results_fail_one_user_and_write_the_others(start):
    sandbox = start()
    session = client(sandbox)
    users, _ = seed_users(1, CUSTOMERS)
    first, second = users[0]["id"], users[1]["id"]
    queued = session.put(f"{sandbox.base_url}/api/v2/users/update_many.json", json={"users": [
        {"id": first, "external_id": "cus_bulk_1"}, {"id": second, "external_id": "cus_bulk_1"},
        {"id": 999_999_999, "external_id": "cus_bulk_3"}]})
    assert queued.status_code == 200 and queued.json()["job_status"]["results"] is None  # nothing written yet
    job = wait_for_job(sandbox, session, queued.json()["job_status"]["id"])
    assert job["status"] == "completed" and job["total"] == 3
    ok, duplicate, missing = job["results"]
    assert ok == {"index": 0, "id": first, "action": "update", "status": "Updated", "success": True}
    assert (duplicate["success"], duplicate["error"], duplicate["index"]) == (False, "RecordInvalid", 1)
    assert (missing["success"], missing["error"]) == (False, "RecordNotFound")
    assert put_user(sandbox, session, first).json()["user"]["external_id"] == "cus_bulk_1"
    assert put_user(sandbox, session, second).json()["user"]["external_id"] is None


def test_create_or_update_many_creates_once_per_external_id(start):
    sandbox = start()
    session = client(sandbox)
    body = {"users": [{"name": "Bulk New", "external_id": "cus_bulk_new"}]}
    results = []
    for _ in range(2):  # the second stands for a resend after a lost answer
        queued = session.post(f"{sandbox.base_url}/api/v2/users/create_or_update_many.json", json=body).json()
        results += wait_for_job(sandbox, session, queued["job_status"]["id"])["results"]
    assert [(r["action"], r["status"]) for r in results] == [("create", "Created"), ("update", "Updated")]
    assert results[0]["id"] == results[1]["id"]


def test_bulk_requests_take_at_most_100_users_and_30_jobs_wait_at_most(start):
    sandbox = start()
    session = client(sandbox)
    url = f"{sandbox.base_url}/api/v2/users/update_many.json"
    too_many = session.put(url, json={"users": [{"id": n, "name": "x"} for n in range(101)]})
    assert too_many.status_code == 400 and too_many.json()["error"] == "InvalidValue"
    sandbox.jobs.stop()  # no worker: every job stays queued
    answers = [session.put(url, json={"users": [{"id": 1, "name": "x"}]}) for _ in range(31)]
    assert [a.status_code for a in answers] == [200] * 30 + [429]
    assert answers[-1].json()["error"] == "TooManyJobs"
    ids = ",".join(a.json()["job_status"]["id"] for a in answers[:3])
    shown = session.get(f"{sandbox.base_url}/api/v2/job_statuses/show_many.json", params={"ids": ids}).json()
    assert [j["status"] for j in shown["job_statuses"]] == ["queued"] * 3
