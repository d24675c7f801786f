"""Delivery through the outbox, against the Zendesk sandbox: dead letters and their replay, a dry run
that sends nothing, and a process killed in the middle of delivery."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests
from sqlalchemy import select

from adapters.sandbox import Faults
from adapters.zendesk.sandbox import ZendeskSandbox
from canonical.cycle import run_cycle
from canonical.sandboxes import connection_env
from adapters.zendesk.seed import seed_users
from canonical.store import Link, OutboxEntry, session
from tests.conftest import REPO


def held_ids(sandbox) -> dict[str, str | None]:
    auth, users = (f"{sandbox.email}/token", sandbox.api_token), {}
    url = f"{sandbox.base_url}/api/v2/users.json?page[size]=100"
    while url:
        body = requests.get(url, auth=auth, timeout=10).json()
        users.update({str(u["id"]): u["external_id"] for u in body["users"]})
        url = body["links"]["next"]
    return users


def linked() -> dict[str, str]:
    with session() as s:
        return {l.source_id: l.customer_id for l in s.scalars(select(Link).where(Link.source == "zendesk"))}


def test_a_dry_run_plans_but_queues_and_sends_nothing(zendesk):
    result = run_cycle(dry_run=True)
    assert result["dry_run"] and result["plan"]["zendesk"]["updates"] > 0
    fields = result["plan"]["zendesk"]["fields"]
    assert fields["external_ids.concord"] == result["customers"]  # one holder per customer
    assert set(fields) <= {"external_ids.concord", "full_name", "phones"}  # Zendesk's write-back list
    assert set(held_ids(zendesk).values()) == {None}
    with session() as s:
        assert s.scalars(select(OutboxEntry)).first() is None


def test_a_fatal_answer_is_a_dead_letter_until_replayed(zendesk):
    first = sorted(held_ids(zendesk))[0]
    auth = (f"{zendesk.email}/token", zendesk.api_token)
    run_cycle(dry_run=True)  # learn the customer id the first user will get
    taken = linked()[first]
    # A user Concord holds no record of (quarantined: malformed) has that id already, so the plan
    # cannot see the clash; Zendesk refuses the write, every time.
    other = str(next(iter(seed_users(7, 500)[1])))
    requests.put(f"{zendesk.base_url}/api/v2/users/{other}.json", json={"user": {"external_id": taken}},
                 auth=auth, timeout=10).raise_for_status()
    summary = run_cycle()
    with session() as s:
        dead = s.scalars(select(OutboxEntry).where(OutboxEntry.status == "dead")).all()
    assert summary["failed_writes"] >= 1 and first in {d.source_id for d in dead}
    # The reason names the refused field, never the value (Zendesk's details quote it).
    assert all("external" in d.reason and taken not in d.reason for d in dead)
    assert run_cycle()["writes"]["zendesk"] == 0  # not retried by itself
    requests.put(f"{zendesk.base_url}/api/v2/users/{other}.json", json={"user": {"external_id": None}},
                 auth=auth, timeout=10).raise_for_status()
    replay = run_cycle(retry_failed=True)
    assert replay["writes"]["zendesk"] >= 1 and held_ids(zendesk)[first] == taken


def test_a_process_killed_mid_delivery_loses_no_write_and_doubles_none(tmp_path, monkeypatch):
    slow = Faults(seed=3, slow_rate=1.0, slow_seconds=0.02)  # delivery takes seconds, so it can be cut
    with ZendeskSandbox(state_dir=tmp_path / "sandbox", seed=7, customers=500, recent_window=0,
                        rate_limit=100_000, export_rate_limit=1000, faults=slow) as sandbox:
        # Checkpoints every 100 writes, so that the kill lands between two of them.
        env = {**os.environ, **connection_env("zendesk", sandbox.info()), "CONCORD_WRITE_BATCH": "100"}
        sync = subprocess.Popen([str(Path(sys.executable).with_name("concord")), "sync", "--json"], cwd=REPO,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in sync.stderr:
            if "sync zendesk: 100 written" in line:
                sync.send_signal(signal.SIGKILL)
                break
        sync.wait(timeout=60)
        assert sync.returncode == -signal.SIGKILL
        with session() as s:
            assert s.scalars(select(OutboxEntry).where(OutboxEntry.status == "pending")).first() is not None
        for name, value in connection_env("zendesk", sandbox.info()).items():
            monkeypatch.setenv(name, value)
        sandbox.faults.slow_rate = 0.0
        again = run_cycle()
        held = held_ids(sandbox)
    links = linked()
    assert again["failed_writes"] == 0
    assert {held[uid] for uid in links} - {None} == set(links.values())  # every customer's id arrived once
    with session() as s:
        assert s.scalars(select(OutboxEntry).where(OutboxEntry.status.in_(["pending", "failed"]))).first() is None
