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
from canonical.reconcile.features import Features, stamp, stored
from canonical.store import Link, SourceRecord, migrate, session
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

    def both(run_id: str, per_partition: int | None = None) -> tuple[dict, dict]:
        monkeypatch.setenv("CONCORD_DB_URL", urls["single"])
        single = reconcile(run_id)
        one = outcome()
        monkeypatch.setenv("CONCORD_DB_URL", urls["partitioned"])
        parted = partition.run_all(run_id)
        within = partition._Plan.load(run_id).within
        expected = 5 if within is None else min(5, -(-int(within.sum()) // per_partition))
        assert parted["partitions"] == expected and parted["mode"] == single["mode"]
        assert {k: v for k, v in parted.items() if k != "partitions"} == single
        assert expected > 1  # both runs are really split
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
    # An incremental run splits only the records it looks at: one partition per 40 of them here, so
    # that this small neighbourhood still spreads over several partitions (at most the full run's 5).
    monkeypatch.setenv("CONCORD_RECONCILE_PARTITION_RECORDS", "40")
    single, parted = both("r2", per_partition=40)
    assert single == parted

    # A neighbourhood within one partition is compared and scored by the plan itself: no partition
    # is left to map over, and the outcome is still the one-process outcome.
    monkeypatch.delenv("CONCORD_RECONCILE_PARTITION_RECORDS")
    changed = [dict(r, given_name="Zed", updated_at="2025-07-01T00:00:00Z") for r in world_records[5::89]]
    for url in urls.values():
        monkeypatch.setenv("CONCORD_DB_URL", url)
        put("r3", *changed)
    monkeypatch.setenv("CONCORD_DB_URL", urls["single"])
    single = reconcile("r3")
    one = outcome()
    monkeypatch.setenv("CONCORD_DB_URL", urls["partitioned"])
    assert partition.plan("r3") == []
    parted = partition.finish("r3")
    assert parted.pop("partitions") == 1 and parted == single and single["mode"] == "incremental"
    assert outcome() == one


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
    # r2 is incremental and small, so its plan also compared and scored: its own files only, r1's gone.
    assert keys == {"raw/zendesk/users/r1/page-00001.json"} | {"work/reconcile/r2/" + name for name in (
        "plan.npz", "pairs-000.npz", "model.json", "edges-000.npz")}


def test_the_plan_reads_each_records_stored_features_and_computes_only_missing_or_outdated_ones(
        tmp_path, monkeypatch, world_records):
    monkeypatch.setenv("CONCORD_DB_URL", f"sqlite:///{tmp_path}/s.db")
    migrate()
    put("r1", *world_records[:300])  # stored as a direct insert would: no features yet
    partition.plan("r1")
    with session() as s:
        rows = s.scalars(select(SourceRecord).order_by(SourceRecord.id)).all()
        assert all((r.match_features, r.features_of) == (stored(r.canonical), stamp(r.content_hash)) for r in rows)
        # Planted: one row's features under another version of the code, one row's with the right stamp.
        old, kept = rows[0], rows[1]
        old.match_features, old.features_of = [None] * len(old.match_features), f"0ld:{old.content_hash}"
        kept.match_features = ["planted@example.org", *kept.match_features[1:]]
        old_key, kept_key = (old.source, old.source_id), (kept.source, kept.source_id)
    partition.plan("r2")
    table = partition._Plan.load("r2").features
    email = dict(zip(table.keys, table.column("email1").tolist()))
    assert table.vocab["email1"].values[email[kept_key]] == "planted@example.org"  # read, not computed
    with session() as s:
        old = s.scalar(select(SourceRecord).where(SourceRecord.source == old_key[0], SourceRecord.source_id == old_key[1]))
        assert (old.match_features, old.features_of) == (stored(old.canonical), stamp(old.content_hash))
