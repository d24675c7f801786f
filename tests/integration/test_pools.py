"""Airflow pools per system, sized from the adapters' declared rate limits; the pacers of a pool's
concurrent tasks, each at its share, stay under the vendor's limit together; `concord pools` creates
and checks the pools in a real Airflow metadata database."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters import pacing, registry
from adapters.base import Endpoint
from adapters.pacing import Pacer
from canonical import pools
from tests.conftest import REPO


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_every_system_has_a_pool_sized_from_its_limits():
    defined = pools.definitions()
    assert set(defined) == {f"concord_{system}" for system in registry.known()}
    for system in registry.known():
        streams = len(registry.adapter_class(system).streams)
        limits = pools.rate_limits(system)
        tightest = min((math.floor(r.limit * r.headroom) for r in limits.values()), default=streams)
        assert defined[f"concord_{system}"]["slots"] == pools.slots(system) == min(streams, tightest) >= 1
        for bucket, rate in limits.items():
            # every slot gets at least one request of every bucket's window
            assert math.floor(rate.limit * rate.headroom * pools.share(system)) >= 1, (system, bucket)
    assert set(pools.rate_limits("zendesk")) == {"general", "export"}  # the buckets the adapter declares
    assert pools.rate_limits("shopify") == {}  # cost-based: the vendor's own bucket report paces it


def test_a_hand_set_size_is_bounded_by_the_tightest_limit(monkeypatch):
    monkeypatch.setenv("CONCORD_POOL_SLOTS_HUBSPOT", "50")
    assert pools.slots("hubspot") == 5  # the search bucket allows 5 requests a second
    monkeypatch.setenv("CONCORD_POOL_SLOTS_ZENDESK", "1")
    assert pools.slots("zendesk") == 1 and pools.share("zendesk") == 1.0


def run_pool(rate, slots: int, seconds: float, remaining_header: bool = False) -> list[list[float]]:
    """`slots` tasks at their shares, sending as fast as their pacers let them, on one clock. With
    `remaining_header`, the vendor tells each answer how much of the window the account has left."""
    clock = Clock()
    with pacing.sharing(1.0 / slots):
        pacers = [Pacer(rate, clock=clock, sleep=lambda s: None) for _ in range(slots)]
    sent: list[list[float]] = [[] for _ in pacers]
    account: list[float] = []
    next_free = [0.0] * slots
    while min(next_free) < seconds:
        i = next_free.index(min(next_free))
        clock.now = next_free[i]
        pacer = pacers[i]
        # A pacer that would wait tells us how long; the simulated task sleeps that long on the shared clock.
        pacer._sleep = lambda pause, i=i: _advance(clock, pause)
        pacer.before()
        sent[i].append(clock.now)
        account.append(clock.now)
        if remaining_header:
            used = sum(1 for t in account if t > clock.now - rate.window)
            pacer.after({rate.remaining_header: str(max(0, pacer.limit - used))})
        next_free[i] = clock.now + 0.001  # each request takes a millisecond
    return sent


def _advance(clock: Clock, pause: float) -> None:
    clock.now += pause


def joint_peak(sent: list[list[float]], window: float) -> int:
    times = sorted(t for task in sent for t in task)
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


@pytest.mark.parametrize("system", ["zendesk", "hubspot", "mailchimp", "twilio"])
def test_a_pools_concurrent_tasks_stay_under_the_vendor_limit_together(system):
    slots = pools.slots(system)
    for bucket, rate in pools.rate_limits(system).items():
        sent = run_pool(rate, slots, seconds=rate.window * 5)
        assert joint_peak(sent, rate.window) <= rate.limit, (system, bucket)
        # and the shares are used: together the tasks get close to the limit, none starves
        per_task = [len(task) for task in sent]
        assert min(per_task) >= math.floor(rate.limit / slots) * 4, (system, bucket, per_task)


def test_one_task_alone_would_use_the_whole_limit_and_two_of_them_exceed_it():
    # Why the shares: unshared, two concurrent tasks each pace under the whole limit.
    rate = pools.rate_limits("zendesk")["export"]
    assert joint_peak(run_pool(rate, 1, rate.window * 3), rate.window) == rate.limit
    clock = Clock()
    pacers = [Pacer(rate, clock=clock, sleep=lambda s: None, share=1.0) for _ in range(2)]
    for pacer in pacers:
        for _ in range(rate.limit):
            pacer.before()
    assert sum(p.sent for p in pacers) == 2 * rate.limit  # within one window: twice the vendor's limit


def test_shares_hold_when_the_vendor_reports_what_the_account_has_left():
    rate = pools.rate_limits("hubspot")["general"]  # HubSpot sends its remaining count
    assert rate.remaining_header
    sent = run_pool(rate, 2, seconds=rate.window * 4, remaining_header=True)
    assert joint_peak(sent, rate.window) <= rate.limit
    # the other slot's requests, within its share, do not eat into this one's
    assert min(len(task) for task in sent) >= math.floor(rate.limit / 2) * 3


def test_an_adapter_built_inside_its_pools_share_paces_at_that_share():
    cls = registry.adapter_class("zendesk")
    with pacing.sharing(pools.share("zendesk")):
        shared = cls(Endpoint("http://127.0.0.1:9", "agent@example.com", "token"))
    alone = cls(Endpoint("http://127.0.0.1:9", "agent@example.com", "token"))
    assert shared.http.pacers["export"]._cap() == 20 // pools.slots("zendesk")
    assert alone.http.pacers["export"]._cap() == 20
    shared.http.pacers["export"].after({"X-Rate-Limit": "2500"})  # a learned limit is shared as well
    assert shared.http.pacers["export"]._cap() == 2500 // pools.slots("zendesk")


def concord(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("concord")), *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_concord_pools_creates_them_in_airflow_and_names_a_missing_one(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(REPO),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db",
           "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(tmp_path / "logs")}
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, cwd=REPO, capture_output=True, timeout=300, check=True)
    missing = concord(env, "pools", "--check")
    assert missing.returncode == 1 and "missing: concord_hubspot" in missing.stderr
    assert "concord pools --apply" in missing.stderr

    applied = concord(env, "pools", "--apply")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout) == pools.definitions()
    listed = subprocess.run([airflow, "pools", "list", "-o", "json"], env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=120).stdout.splitlines()
    found = {p["pool"]: int(p["slots"]) for p in json.loads(next(l for l in listed if l.startswith("[")))}
    assert {name: found[name] for name in pools.definitions()} == {
        name: spec["slots"] for name, spec in pools.definitions().items()}
    assert concord(env, "pools", "--check").returncode == 0

    subprocess.run([airflow, "pools", "delete", "concord_zendesk"], env=env, cwd=REPO, capture_output=True,
                   timeout=120, check=True)
    subprocess.run([airflow, "pools", "set", "concord_twilio", "7", "resized by hand"], env=env, cwd=REPO,
                   capture_output=True, timeout=120, check=True)
    broken = concord(env, "pools", "--check")
    assert broken.returncode == 1
    assert "missing: concord_zendesk" in broken.stderr and "concord_twilio has 7 slots, not 2" in broken.stderr


def test_the_compose_init_service_creates_the_pools():
    import yaml

    init = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text())["services"]["airflow-init"]
    assert "concord pools --apply" in " ".join(init["command"]) and init["entrypoint"][0] == "/bin/sh"
