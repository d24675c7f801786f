"""The rates weak links are weighed with (how often a system repeats within one person, how often
another person's cluster holds one of the systems) are learned by the pass that learns the model and
travel with it, so an incremental pass decides weak links as the full pass did."""
import json

import numpy as np
import pytest

from adapters.world import SYSTEMS, World
from bench.make_records import canonical
from canonical.reconcile import model as fs
from canonical.reconcile import snapshot
from canonical.reconcile.engine import Engine
from canonical.reconcile.features import Features
from canonical.reconcile.features import stored as stored_row


@pytest.fixture(scope="module")
def world():
    """Records of a generated world, in the order the store reads them (sorted by key)."""
    views = World(seed=5, people=1500)
    records = sorted((canonical(view) for system in SYSTEMS for view in views.views(system)),
                     key=lambda r: (r["source"], r["source_id"]))
    features = Features()
    for record in records:
        features.add(record)
    return records, features.freeze()


def people(labels: np.ndarray) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for row, label in enumerate(labels.tolist()):
        groups.setdefault(label, set()).add(row)
    return {frozenset(rows) for rows in groups.values()}


def test_an_incremental_pass_over_unchanged_records_keeps_every_weak_link_decision(world):
    _, features = world
    full = Engine(features)
    before = full.resolve().labels
    stored = json.loads(json.dumps(full.model.as_dict()))  # as the store keeps it
    assert 0 < stored["systems"]["repeat"] < 0.2 and sorted(stored["systems"]["sources"]) == sorted(SYSTEMS)
    # A later run, in another process: the model comes back from the store. Every third record is
    # looked at again; on this world, rates learned from those neighbourhoods alone split two clusters
    # whose weak link sat near its bar.
    later = Engine(features)
    later.model = fs.Model.from_dict(stored)
    changed = np.zeros(len(features), dtype=bool)
    changed[::3] = True
    after, looked_at, _ = later.update(before, changed)
    assert looked_at.sum() < len(features)
    assert people(after) == people(before)
    assert later.model.systems == stored["systems"]


def _plan(records, model):
    keyed = {(r["source"], r["source_id"]): r for r in records}
    previous = {key: f"cus_{i}" for i, key in enumerate(keyed)}
    return snapshot.plan({key: stored_row(record) for key, record in keyed.items()}, set(), previous, [], model)


def test_a_model_stored_without_the_rates_is_learned_again_in_a_full_run(world):
    records, features = world
    engine = Engine(features)
    engine.resolve()
    model = engine.model.as_dict()
    model["records"] = len(records)
    assert not _plan(records, model).full
    assert _plan(records, {k: v for k, v in model.items() if k != "systems"}).full
    unknown = [dict(records[0], source="freshdesk", source_id="1")]  # a system connected since
    assert _plan(records + unknown, model).full
