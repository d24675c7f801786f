"""Blocking, comparison and the label-free model, on hand-made records and on a small world."""
import numpy as np
import pytest

from adapters.world import SYSTEMS, World
from bench.make_records import canonical
from canonical.reconcile import blocking, compare, normalize
from canonical.reconcile.engine import Engine
from canonical.reconcile.features import Features, name_columns


def table(records):
    features = Features()
    for i, record in enumerate(records):
        features.add({"source": "hubspot", "source_id": str(i), "updated_at": "2025-01-01T00:00:00Z", **record})
    return features.freeze()


@pytest.fixture(scope="module")
def world():
    world = World(seed=5, people=1500)
    features = Features()
    for system in SYSTEMS:
        for view in world.views(system):
            features.add(canonical(view))
    truth = world.truth()["records"]
    return features.freeze(), np.array([truth[f"{s}:{i}"] for s, i in features.keys])


def test_a_block_over_the_cap_is_skipped_and_small_blocks_still_pair():
    crowd = [{"given_name": "John", "family_name": "Smith"} for _ in range(30)]
    pair = [{"given_name": "Zbigniew", "family_name": "Brzeczyszczykiewicz", "emails": ["zb@example.com"]},
            {"full_name": "Brzęczyszczykiewicz, Zbigniew"}]
    a, b, stats = blocking.candidate_pairs(table(crowd + pair), cap=20)
    assert stats.skipped_by_key["name"] == 1
    assert list(zip(a.tolist(), b.tolist())) == [(30, 31)]


def test_nicknames_meet_in_one_block_and_compare_as_nicknames():
    features = table([{"given_name": "Bill", "family_name": "Ng"}, {"given_name": "William", "family_name": "Ng"}])
    a, b, _ = blocking.candidate_pairs(features)
    levels = compare.Comparator(features).levels(a, b)
    assert len(a) == 1 and compare.LEVELS["given"][levels[0, compare.FIELDS.index("given")] - 1] == "nickname"


def test_a_mistyped_short_form_is_similar_and_meets_its_name():
    features = table([{"given_name": "Vcky", "family_name": "Ng"}, {"given_name": "Victoria", "family_name": "Ng"},
                      {"given_name": "Eszter", "family_name": "Ng"}, {"given_name": "Evelyn", "family_name": "Ng"}])
    levels = compare.Comparator(features).levels(np.array([0, 2]), np.array([1, 3]))[:, compare.FIELDS.index("given")]
    assert [compare.LEVELS["given"][level - 1] for level in levels] == ["similar", "different"]
    slots = blocking.root_columns(features)
    vcky, victoria, eszter = ({int(slot[row]) for slot in slots} - {-1} for row in range(3))
    assert vcky & victoria and not eszter & victoria  # 'vcky' takes Victoria's root, so they share a block


def test_email_typos_are_similar_but_name_shaped_addresses_are_not():
    features = table([{"emails": ["matthewkang@bt.com"]}, {"emails": ["mtthewkang@bt.com"]},
                      {"emails": ["matthew.kang@bt.com"]}, {"emails": ["matthewkang7@bt.com"]}])
    levels = compare.Comparator(features).levels(np.array([0, 0, 0]), np.array([1, 2, 3]))[:, 0]
    assert [compare.LEVELS["email"][level - 1] for level in levels] == ["similar", "different", "different"]


def test_em_learns_sensible_m_and_u_without_labels(world):
    features, person = world
    engine = Engine(features)
    result = engine.resolve()
    model = result.model
    assert model.iterations >= 2
    for field in ("email", "phone", "given", "family"):
        assert model.m[field][1] > 0.75, field          # matches mostly agree exactly
        assert model.u[field][1] < 0.02, field          # strangers rarely do
        assert model.m[field][-1] < 0.15, field         # and matches rarely differ
    pairs = result.edges
    truly = person[pairs.a] == person[pairs.b]
    weight = pairs.weight
    assert np.median(weight[truly]) > 10 > np.median(weight[~truly])


def test_a_common_name_proves_less_than_a_rare_one():
    common = [{"given_name": "John", "family_name": "Smith"} for _ in range(40)]
    rare = [{"given_name": "Zbigniew", "family_name": "Brzeczyszczykiewicz"}]
    features = table(common + rare + rare)
    from canonical.reconcile.model import tf_adjustment

    family = features.column("family")
    assert tf_adjustment(features, "family", family[[0]])[0] < 0 < tf_adjustment(features, "family", family[[40]])[0]


def test_the_engine_finds_most_of_a_small_world_and_merges_few_strangers(world):
    features, person = world
    labels = Engine(features).resolve().labels
    clusters = {}
    for label, p in zip(labels.tolist(), person.tolist()):
        clusters.setdefault(label, set()).add(p)
    over_merged = sum(len(people) > 1 for people in clusters.values()) / len(clusters)
    assert over_merged < 0.05
    assert len(clusters) < 1.15 * len(set(person.tolist()))


def test_names_addresses_and_birth_dates_alone_still_match():
    from bench.match_vs_splink import scores

    world = World(seed=8, people=3000)
    features = Features()
    for system in SYSTEMS:
        for view in world.views(system):
            record = canonical(view)
            record.pop("emails", None)
            record.pop("phones", None)
            features.add(record)
    labels = Engine(features.freeze()).resolve().labels
    predicted = {f"{s}:{i}": str(label) for (s, i), label in zip(features.keys, labels.tolist())}
    quality = scores(predicted, world.truth()["records"])
    assert quality["f1"] >= 0.75 and quality["bcubed_f1"] >= 0.85 and quality["over_merged_pct"] < 5


def test_a_nameless_record_is_compared_under_the_names_its_email_spells():
    named = [{"given_name": "Ahmed", "family_name": "Bakker", "emails": [f"ab{i}@example.com"]} for i in range(3)]
    named += [{"given_name": "Sara", "family_name": "Lind", "emails": [f"sl{i}@example.com"]} for i in range(3)]
    nameless = [{"emails": ["ahmed.bakker@mail.com"], "address": {"postcode": "75201", "country": "US"}},
                {"emails": ["bakker_ahmed7@mail.com"]}, {"emails": ["ahmedbakker84@mail.com"]},
                {"emails": ["abakker@mail.com"]}, {"emails": ["ahmed1984@mail.com"]}, {"emails": ["qx77@mail.com"]},
                {"emails": ["lind.ahmed@mail.com"]}]
    features = table(named + nameless + [{"given_name": "Ahmed", "family_name": "Bakker",
                                          "address": {"postcode": "75201", "country": "US"}}])
    given, family = name_columns(features)
    spelled = [(features.vocab["given"].values[g] if g >= 0 else None,
                features.vocab["family"].values[f] if f >= 0 else None)
               for g, f in zip(given[6:13].tolist(), family[6:13].tolist())]
    # 'abakker' is left alone: a family name without its given name linked too many strangers
    assert spelled == [("ahmed", "bakker"), ("ahmed", "bakker"), ("ahmed", "bakker"), (None, None),
                       ("ahmed", None), (None, None), ("ahmed", "lind")]
    assert (features.column("given")[6:13] == -1).all()  # the record itself still has no name
    a, b, _ = blocking.candidate_pairs(features)
    assert (6, 13) in set(zip(a.tolist(), b.tolist()))  # same name and postcode now meet
    levels = compare.Comparator(features).levels(np.array([6, 6]), np.array([13, 3]))
    assert levels[0, compare.FIELDS.index("given")] == 1 and levels[0, compare.FIELDS.index("family")] == 1
    assert levels[1, compare.FIELDS.index("family")] == 3  # Bakker is not Lind


def test_an_address_written_out_against_harvesters_is_compared_as_the_address():
    features = table([{"emails": ["Ana.Lima(at)example.com"]}, {"emails": ["ana.lima at example.com"]},
                      {"emails": ["ana.lima[at]example.com"]}, {"emails": ["ana.lima@example.com"]}])
    assert len(set(features.column("email1").tolist())) == 1
    assert normalize.email("ana.lima(at)example.com") is None  # what systems hold is not rewritten


def test_email_levels_read_only_where_a_slip_is_possible_agree_with_reading_every_pair(world):
    features, _ = world
    a, b, _ = blocking.candidate_pairs(features, blocking.DEFAULT_CAP)
    every = compare.Comparator(features)._pair_levels("email1", a, b, 1, compare._email_level)
    screened = compare.Comparator(features)
    found = screened._pair_levels("email1", a, b, 1, compare._email_level, screened._could_slip, unlike=3)
    assert np.array_equal(found, every)
    assert (found == 2).sum() > 10  # the world holds slips, and they are still found


def test_the_pairs_touching_some_rows_are_the_full_pairs_that_hold_one_of_them(world):
    features, _ = world
    rng = np.random.default_rng(4)
    a, b, _ = blocking.candidate_pairs(features, 8)  # a low cap: blocks over it are skipped either way
    for share in (0.01, 0.3):
        touching = rng.random(len(features)) < share
        within = rng.random(len(features)) < 0.8
        near_a, near_b, _ = blocking.candidate_pairs(features, 8, touching=touching)
        keep = touching[a] | touching[b]
        assert np.array_equal(near_a, a[keep]) and np.array_equal(near_b, b[keep]) and len(near_a) > 0
        a_in, b_in, _ = blocking.candidate_pairs(features, 8, within=within)
        both_a, both_b, _ = blocking.candidate_pairs(features, 8, within=within, touching=touching)
        keep = touching[a_in] | touching[b_in]
        assert np.array_equal(both_a, a_in[keep]) and np.array_equal(both_b, b_in[keep])
