"""Reconcile in partitions (mapped tasks) against reconcile in one process, on the same generated world
in two real stores: the same clusters, link rules and scores, link evidence and learned model, on a
full first run and on an incremental second run with overrides and changed records."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from adapters.world import SYSTEMS, World
from bench.make_records import canonical
from canonical import landing
from canonical.reconcile import blocking, overrides, partition, reconcile
from canonical.reconcile.features import Features
from canonical.store import Link, migrate, session
from canonical.store.models import MatchEvidence, MatchModel
from tests.integration.test_landing import s3  # noqa: F401  (the moto S3 fixture)
from tests.integration.test_reconcile_store import put

PEOPLE = 1500


@pytest.fixture(scope="module")
def world_records() -> list[dict]:
    world = World(seed=11, people=PEOPLE)
    return [canonical(view) for system in SYSTEMS for view in world.views(system)]


def outcome() -> dict:
    """Everything a reconcile decides, independent of the customer ids' random names."""
    with session() as s:
        links = list(s.scalars(select(Link)))
        owner = {(l.source, l.source_id): l.customer_id for l in links}
        groups: dict[str, set] = {}
        for key, cid in owner.items():
            groups.setdefault(cid, set()).add(key)
        members = {cid: frozenset(keys) for cid, keys in groups.items()}
        evidence = {(members[e.customer_id], e.source_a, e.source_id_a, e.source_b, e.source_id_b, e.rule,
                     round(e.weight, 4), round(e.probability, 6)) for e in s.scalars(select(MatchEvidence))}
        model = s.scalar(select(MatchModel).order_by(MatchModel.created_at.desc()))
        return {"clusters": set(members.values()),
                "rules": {(l.source, l.source_id, l.rule, l.score) for l in links},
                "evidence": evidence, "model": model.parameters if model else None}


def two_stores(tmp_path, monkeypatch, records: list[dict]):
    urls = {name: f"sqlite:///{tmp_path}/{name}.db" for name in ("single", "partitioned")}
    for url in urls.values():
        monkeypatch.setenv("CONCORD_DB_URL", url)
        migrate()
        put("r1", *records)
    return urls


def test_partitioned_reconcile_equals_the_one_process_reconcile(tmp_path, monkeypatch, world_records):
    urls = two_stores(tmp_path, monkeypatch, world_records)
    monkeypatch.setenv("CONCORD_RECONCILE_PARTITIONS", "5")

    def both(run_id: str) -> tuple[dict, dict]:
        monkeypatch.setenv("CONCORD_DB_URL", urls["single"])
        single = reconcile(run_id)
        one = outcome()
        monkeypatch.setenv("CONCORD_DB_URL", urls["partitioned"])
        parted = partition.run_all(run_id)
        assert parted["partitions"] == 5 and parted["mode"] == single["mode"]
        assert {k: v for k, v in parted.items() if k != "partitions"} == single
        return one, outcome()

    single, parted = both("r1")
    assert single["model"] is not None and len(single["clusters"]) < len(world_records)
    assert single == parted

    # The second run is incremental: a few records change, one pair is forced and one forbidden.
    changed = [dict(r, family_name=r.get("family_name", "") + "x", updated_at="2025-06-01T00:00:00Z")
               for r in world_records[::97]]
    a, b, c = (("zendesk", world_records[i]["source_id"]) for i in (0, 1, 2))
    for url in urls.values():
        monkeypatch.setenv("CONCORD_DB_URL", url)
        put("r2", *changed)
        overrides.set_override(a, b, "force", "test")
        overrides.set_override(a, c, "forbid", "test")
    single, parted = both("r2")
    assert single == parted


def test_the_partitions_together_hold_exactly_the_one_process_candidate_pairs(world_records):
    features = Features()
    for record in sorted(world_records, key=lambda r: (r["source"], r["source_id"])):
        features.add(record)
    features.freeze()
    n = len(features)
    a, b, _ = blocking.candidate_pairs(features)
    expected = set((a.astype(np.int64) * n + b).tolist())
    within = np.zeros(n, dtype=bool)
    within[::3] = True
    wa, wb, _ = blocking.candidate_pairs(features, within=within)
    expected_within = set((wa.astype(np.int64) * n + wb).tolist())
    for count in (1, 4, 7):
        found, found_within = set(), set()
        for part in range(count):
            pa, pb = partition.candidate_pairs(features, part, count, blocking.DEFAULT_CAP)
            found |= set((pa.astype(np.int64) * n + pb).tolist())
            pa, pb = partition.candidate_pairs(features, part, count, blocking.DEFAULT_CAP, within)
            found_within |= set((pa.astype(np.int64) * n + pb).tolist())
        assert found == expected and found_within == expected_within
    sizes = [len(partition.candidate_pairs(features, part, 4, blocking.DEFAULT_CAP)[0]) for part in range(4)]
    assert min(sizes) > 0.5 * max(sizes)  # the hash spreads the work


def test_a_stage_whose_input_is_missing_says_which_file(tmp_path, monkeypatch, world_records):
    monkeypatch.setenv("CONCORD_DB_URL", f"sqlite:///{tmp_path}/s.db")
    migrate()
    put("r1", *world_records[:200])
    parts = partition.plan("r1")
    with pytest.raises(FileNotFoundError, match="pairs-000.npz is missing"):
        partition.train("r1")
    for part in parts:
        partition.pairs("r1", part)
        partition.pairs("r1", part)  # a retried task rewrites its file with the same content
    partition.train("r1")
    for part in parts:
        partition.score("r1", part)
    assert partition.finish("r1")["records"] == 200
    partition.plan("r2")  # a later run's plan removes the earlier run's files
    assert not (tmp_path / "var" / "work" / "reconcile" / "r1").exists()


def test_the_work_files_can_live_on_s3_encrypted_and_only_the_current_runs_are_kept(s3, monkeypatch, world_records):
    monkeypatch.setenv("CONCORD_WORK_URL", "s3://concord-landing/work")
    monkeypatch.setenv("CONCORD_RECONCILE_PARTITIONS", "2")
    migrate()
    put("r1", *world_records[:300])
    landing.put_page("zendesk/users", "r1", 1, {"records": []})  # landed pages share the bucket
    assert partition.run_all("r1")["records"] == 300
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="concord-landing")["Contents"]]
    work = sorted(k for k in keys if k.startswith("work/"))
    assert work == ["work/reconcile/r1/" + name for name in (
        "edges-000.npz", "edges-001.npz", "model.json", "pairs-000.npz", "pairs-001.npz", "plan.npz")]
    assert all(s3.head_object(Bucket="concord-landing", Key=k)["ServerSideEncryption"] == "AES256" for k in work)
    partition.plan("r2")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="concord-landing")["Contents"]}
    assert keys == {"work/reconcile/r2/plan.npz", "raw/zendesk/users/r1/page-00001.json"}
