"""The guard against chaining, stable ids, merge and split events."""
import numpy as np
import pytest

from adapters.world import SYSTEMS, World
from bench.make_records import canonical
from canonical.reconcile import cluster, ids
from canonical.reconcile.engine import Engine, Overrides
from canonical.reconcile.features import Features

HOME = {"line1": "12 Main St", "postcode": "94107", "country": "US", "city": "SF"}


def table(records):
    features = Features()
    for i, record in enumerate(records):
        features.add({"source": record.pop("source", "shopify"), "source_id": str(i),
                      "updated_at": "2025-01-01T00:00:00Z", **record})
    return features.freeze()


@pytest.fixture(scope="module")
def reference_model():
    """A model learned on a small world: hand-made tables of a few records are too small to learn one."""
    features = Features()
    world = World(seed=5, people=1500)
    for system in SYSTEMS:
        for view in world.views(system):
            features.add(canonical(view))
    return Engine(features.freeze()).resolve().model


def engine_for(records, model) -> Engine:
    engine = Engine(table(records))
    engine.model = model
    return engine


def people(labels) -> list[list[int]]:
    groups = {}
    for row, label in enumerate(labels.tolist()):
        groups.setdefault(label, []).append(row)
    return sorted(groups.values())


def test_a_household_sharing_phone_and_address_stays_several_people(reference_model):
    household = [
        {"given_name": "Ana", "family_name": "Lima", "phones": ["415-555-2671"], "address": HOME},
        {"given_name": "Ana", "family_name": "Lima", "phones": ["+14155552671"], "emails": ["ana@lima.org"]},
        {"given_name": "Bruno", "family_name": "Lima", "phones": ["(415) 555-2671"], "address": HOME},
        {"given_name": "Bruno", "family_name": "Lima", "phones": ["4155552671"], "birth_date": "1980-01-02"},
        {"source": "twilio", "phones": ["+14155552671"]},  # the landline's own entry, no name: one of them
    ]
    groups = people(engine_for(household, reference_model).resolve().labels)
    assert [0, 1] in groups or [0, 1, 4] in groups
    assert [2, 3] in groups or [2, 3, 4] in groups
    assert len(groups) == 2


def test_one_family_email_does_not_make_one_person(reference_model):
    family = [
        {"given_name": "Maria", "family_name": "Costa", "emails": ["costa.family@gmail.com"], "birth_date": "1970-03-04"},
        {"given_name": "Pedro", "family_name": "Costa", "emails": ["Costa.Family@gmail.com"]},
        {"given_name": "Maria", "family_name": "Costa", "emails": ["maria.costa@gmail.com"], "birth_date": "1970-03-04"},
    ]
    assert people(engine_for(family, reference_model).resolve().labels) == [[0, 2], [1]]


def test_different_birth_dates_split_a_chain_through_a_shared_email(reference_model):
    records = [{"given_name": "Sam", "family_name": "Lee", "emails": ["s.lee@x.com"], "birth_date": "1990-01-01"},
               {"given_name": "Samuel", "family_name": "Lee", "emails": ["s.lee@x.com"]},
               {"given_name": "Sam", "family_name": "Lee", "emails": ["s.lee@x.com"], "birth_date": "1961-07-30"}]
    groups = people(engine_for(records, reference_model).resolve().labels)
    assert len(groups) == 2 and ([2] in groups or [0] in groups)


def test_overrides_outrank_rules_and_scores(reference_model):
    records = [{"given_name": "Ana", "family_name": "Lima", "emails": ["ana@lima.org"]},
               {"given_name": "Ana", "family_name": "Lima", "emails": ["ANA@lima.org"]},
               {"family_name": "Lima", "emails": ["a.lima@work.example"], "phones": ["+12025550143"]}]
    engine = engine_for(records, reference_model)
    assert people(engine.resolve().labels) == [[0, 1], [2]]
    assert people(engine.resolve(overrides=Overrides(forbidden={(0, 1)})).labels) == [[0], [1], [2]]
    assert people(engine.resolve(overrides=Overrides(forced={(2, 1)})).labels) == [[0, 1, 2]]


def test_ids_stay_through_growth_and_the_larger_part_keeps_them_in_a_split():
    a, b, c, d = ("s", "a"), ("s", "b"), ("s", "c"), ("s", "d")
    previous = {a: "cus_1", b: "cus_1", c: "cus_1", d: "cus_2"}
    assert ids.assign([[a, b, c, ("s", "new")], [d]], previous, {}) == ["cus_1", "cus_2"]
    split = ids.assign([[a], [b, c], [d]], previous, {})
    assert split[1:] == ["cus_1", "cus_2"] and split[0] not in ("cus_1", "cus_2")
    assert ids.events([[a], [b, c], [d]], split, previous) == [
        {"kind": "split", "customer_id": "cus_1", "others": [split[0]]}]


def test_a_merge_keeps_the_larger_customers_id_and_is_an_event():
    a, b, c = ("s", "a"), ("s", "b"), ("s", "c")
    previous = {a: "cus_1", b: "cus_1", c: "cus_2"}
    merged = ids.assign([[a, b, c]], previous, {})
    assert merged == ["cus_1"]
    assert ids.events([[a, b, c]], merged, previous) == [{"kind": "merge", "customer_id": "cus_1", "others": ["cus_2"]}]


def test_an_id_carried_by_the_source_is_reused_when_the_store_has_none():
    assert ids.assign([[("zendesk", "1")]], {}, {("zendesk", "1"): "cus_from_zendesk"}) == ["cus_from_zendesk"]


def test_an_incremental_pass_looks_only_at_the_changed_neighbourhood(reference_model):
    records = [{"given_name": f"P{i}x", "family_name": f"F{i}y", "emails": [f"p{i}@x.com"]} for i in range(50)]
    records += [{"given_name": "P7x", "family_name": "F7y", "emails": ["p7@x.com"], "phones": ["4155550199"]}]
    engine = engine_for(records, reference_model)
    changed = np.zeros(51, dtype=bool)
    changed[50] = True
    before = engine.resolve(within=~changed).labels
    after, looked_at, _ = engine.update(before, changed)
    assert sorted(np.flatnonzero(looked_at).tolist()) == [7, 50]
    assert after[50] == after[7] and (after[:50] == before[:50]).all()


def _weak_world(extra, ana=None):
    """30 people each with a HubSpot and a Shopify record sharing an email (confident links: no system
    repeats), one more such person "Ana Lima" (rows 60, 61; `ana`: more fields of hers), then `extra`."""
    records = []
    for i in range(31):
        name = ("Ana", "Lima") if i == 30 else (f"Given{i}", f"Family{i}")
        for source in ("hubspot", "shopify"):
            records.append({"source": source, "given_name": name[0], "family_name": name[1],
                            "emails": [f"person{i}@example.com"], **((ana or {}) if i == 30 else {})})
    return table(records + extra)


def _edges(engine, features, weak):
    """Every pair sharing an email linked by the rule; `weak`: (row, row, posterior) pairs that agree on
    the names and the town only."""
    from canonical.reconcile import compare
    from canonical.reconcile.engine import DETERMINISTIC, RULES, Edges

    a = list(range(0, 62, 2)) + [x for x, _, _ in weak]
    b = list(range(1, 62, 2)) + [y for _, y, _ in weak]
    gamma = np.zeros((len(a), len(compare.FIELDS)), dtype=np.int8)
    for name in ("given", "family"):
        gamma[:, compare.FIELDS.index(name)] = 1
    gamma[:31, compare.FIELDS.index("email")] = 1
    gamma[31:, compare.FIELDS.index("place")] = 1
    weight = np.array([DETERMINISTIC] * 31 + [np.log2(p / (1 - p)) for _, _, p in weak], dtype=np.float32)
    rule = np.array([RULES.index("exact_email")] * 31 + [0] * len(weak), dtype=np.int8)
    return Edges(np.array(a), np.array(b), gamma, weight, rule, np.ones(len(a), dtype=bool))


def test_a_weak_link_into_a_cluster_holding_a_record_of_its_own_system_is_refused():
    # row 62: a second HubSpot "Ana Lima" with nothing but the name and the town; row 63 a Zendesk one
    features = _weak_world([{"source": "hubspot", "given_name": "Ana", "family_name": "Lima"},
                            {"source": "zendesk", "given_name": "Ana", "family_name": "Lima"}])
    engine = Engine(features)
    labels = engine.cluster_labels(_edges(engine, features, [(60, 62, 0.9), (60, 63, 0.85)]), Overrides())
    assert labels[63] == labels[60] == labels[61]  # Zendesk had no record of her: the link holds
    assert labels[62] != labels[60]  # HubSpot already has her: a namesake, not her


@pytest.mark.parametrize("theirs, joined", [("cus_2", False), ("cus_1", True), (None, True)])
def test_a_weak_link_does_not_undo_concords_own_decision_that_two_customers_differ(theirs, joined):
    # Ana's records carry the id Concord wrote (cus_1); a Zendesk "Ana Lima" carrying another customer's
    # id shares only the name with her, as a name Concord wrote into a nameless record would
    features = _weak_world([{"source": "zendesk", "given_name": "Ana", "family_name": "Lima",
                             **({"external_ids": {"concord": theirs}} if theirs else {})}],
                           ana={"external_ids": {"concord": "cus_1"}})
    engine = Engine(features)
    labels = engine.cluster_labels(_edges(engine, features, [(60, 62, 0.95)]), Overrides())
    assert bool(labels[62] == labels[60]) == joined


def test_a_weak_link_below_its_bar_is_not_lifted_into_a_cluster_of_its_own_system():
    features = _weak_world([{"source": "hubspot", "given_name": "Ana", "family_name": "Lima"}])
    engine = Engine(features)
    labels = engine.cluster_labels(_edges(engine, features, [(60, 62, 0.7)]), Overrides())
    assert labels[62] != labels[60]


def test_duplicates_within_one_system_that_share_an_email_still_merge(reference_model):
    features = table([{"source": "hubspot", "given_name": "Ana", "family_name": "Lima", "emails": ["ana@example.com"]},
                      {"source": "hubspot", "given_name": "Ana", "family_name": "Lima", "emails": ["ana@example.com"]},
                      {"source": "shopify", "given_name": "Ana", "family_name": "Lima", "emails": ["ana@example.com"],
                       "address": HOME}])
    engine = Engine(features)
    engine.model = reference_model
    labels = engine.resolve(train=False).labels
    assert len(set(labels.tolist())) == 1


def _union_find(size, a, b):
    parent = list(range(size))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist()):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    return np.array([find(x) for x in range(size)])


def test_components_label_each_row_with_the_smallest_row_it_is_linked_to():
    rng = np.random.default_rng(3)
    for _ in range(200):
        size, edges = int(rng.integers(1, 50)), int(rng.integers(0, 70))
        a, b = rng.integers(0, size, edges), rng.integers(0, size, edges)
        assert np.array_equal(cluster.components(size, a, b), _union_find(size, a, b))
    chain = rng.permutation(5000)  # one long shuffled path: the worst shape for hanging roots
    assert (cluster.components(5000, chain[:-1], chain[1:]) == 0).all()
