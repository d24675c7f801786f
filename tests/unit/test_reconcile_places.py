"""Places: a phone's area stands in for an address, learned from records that hold both; the
place comparison, its m learned from confident links, and the guard against namesakes in two towns."""
import numpy as np

from canonical.reconcile import blocking, cluster, compare, model as fs, places
from canonical.reconcile.engine import Engine, Overrides
from canonical.reconcile.features import Features

PLACE = compare.FIELDS.index("place")


def table(records):
    features = Features()
    for i, record in enumerate(records):
        features.add({"source": "hubspot", "source_id": str(i), "updated_at": "2025-01-01T00:00:00Z", **record})
    return features.freeze()


def town(postcode, area, start, count):
    """`count` residents with an address at `postcode` and a number in `area`."""
    return [{"given_name": f"Resident{start + i}", "family_name": "Town", "phones": [f"+1{area}555{start + i:04d}"],
             "address": {"line1": f"{i + 1} Main St", "postcode": postcode, "country": "US"}} for i in range(count)]


def test_phone_areas():
    assert places.phone_area("+14155550100") == "+1 415"
    assert places.phone_area("+442071234567") == "+44 20"
    assert places.phone_area("+1415") is None


def test_a_number_is_placed_where_its_area_lives_and_unknown_areas_stay_unknown():
    residents = town("94103", "415", 0, 6) + town("10001", "212", 100, 6)
    callers = [{"given_name": "Ana", "family_name": "Lima", "phones": ["+14155559999"]},
               {"given_name": "Ana", "family_name": "Lima", "phones": ["+12125559999"]},
               {"given_name": "Ana", "family_name": "Lima", "phones": ["+13125559999"]},  # no resident in 312
               {"given_name": "Ana", "family_name": "Lima", "address": {"line1": "9 Elm St", "postcode": "94103"}}]
    features = table(residents + callers)
    where = places.place_columns(features)
    sf = features.vocab["postcode"].ids["94103"]
    n = len(residents)
    assert where[n, 0] == sf and where[n + 1, 0] not in (-1, sf) and where[n + 2, 0] == -1
    levels = compare.Comparator(features).levels(np.array([n, n + 1, n + 2]), np.array([n + 3] * 3))[:, PLACE]
    assert levels.tolist() == [1, 2, 0]  # same town, two towns, nothing known


def test_a_record_knows_the_places_of_the_records_it_shares_an_email_with():
    residents = town("94103", "415", 0, 6)
    pair = [{"given_name": "Ana", "family_name": "Lima", "emails": ["ana@example.com"]},
            {"given_name": "A", "family_name": "Lima", "emails": ["ana@example.com"],
             "address": {"line1": "9 Elm St", "postcode": "94103"}},
            {"given_name": "Ana", "family_name": "Lima", "phones": ["+14155559999"]}]
    features = table(residents + pair)
    n = len(residents)
    where = places.place_columns(features)
    assert where[n, 0] == where[n + 1, 0] == features.vocab["postcode"].ids["94103"]
    # the email's owner and the caller meet in one name + place block, and compare as one place
    a, b, stats = blocking.candidate_pairs(features)
    assert (n, n + 2) in set(zip(a.tolist(), b.tolist())) and stats.pairs_by_key["name_place"] >= 1
    assert compare.Comparator(features).levels(np.array([n]), np.array([n + 2]))[0, PLACE] == 1
    # a shared email already says it: the place is not counted twice
    assert compare.Comparator(features).levels(np.array([n]), np.array([n + 1]))[0, PLACE] == 0


def test_two_places_are_a_conflict_for_the_cluster_guard():
    gamma = np.zeros((2, len(compare.FIELDS)), dtype=np.int8)
    gamma[0, PLACE], gamma[1, PLACE] = 2, 1
    assert cluster.conflicts(gamma).tolist() == [True, False]


def test_place_m_comes_from_confident_links_not_from_the_mixture():
    u = {name: [0.0] + [1 / len(levels)] * len(levels) for name, levels in compare.LEVELS.items()}
    u["email"], u["place"] = [0.0, 1e-5, 1e-5, 1 - 2e-5], [0.0, 0.01, 0.99]
    model = fs.combine([], u)
    assert model.m["place"] == u["place"]  # weightless until learned
    model.prior = 0.01
    gamma = np.zeros((400, len(compare.FIELDS)), dtype=np.int8)
    gamma[:300, compare.FIELDS.index("email")] = 1  # confidently linked
    gamma[:297, PLACE], gamma[297:300, PLACE] = 1, 2
    gamma[300:, PLACE] = 2  # unlinked pairs in other towns must not count
    features = table([{"given_name": "A", "family_name": "B"}] * 2)
    learned = fs.learn_from_links(features, model, gamma, np.zeros(400, dtype=np.int64))
    assert abs(learned.m["place"][1] - 0.99) < 1e-9 and abs(learned.m["place"][2] - 0.01) < 1e-9


def test_a_stored_model_without_a_newer_field_gives_it_no_weight():
    old = {"m": {"email": [0.0, 0.9, 0.05, 0.05]}, "u": {"email": [0.0, 0.01, 0.01, 0.98]}, "prior": 0.01}
    model = fs.Model.from_dict(old)
    factors = model.log2_factors()
    assert np.all(factors[PLACE] == 0) and factors[compare.FIELDS.index("email"), 1] > 0


def test_namesakes_in_one_town_need_more_than_a_coin_flip(monkeypatch):
    gamma = np.zeros((2, len(compare.FIELDS)), dtype=np.int8)
    gamma[:, compare.FIELDS.index("given")] = gamma[:, compare.FIELDS.index("family")] = 1
    gamma[:, PLACE] = 1
    gamma[1, compare.FIELDS.index("birth")] = 1
    features = table([{"given_name": "Ana", "family_name": "Lima"}] * 3)
    engine = Engine(features)
    engine.model = fs.combine([], {name: [0.0] + [1 / len(v)] * len(v) for name, v in compare.LEVELS.items()})
    # both pairs at posterior 0.7: above the plain threshold, below the bar for name + town alone
    monkeypatch.setattr(fs, "weights", lambda *args, **kwargs: np.full(2, np.log2(0.7 / 0.3), dtype=np.float32))
    edges = engine.score(np.array([0, 0]), np.array([1, 2]), gamma, Overrides())
    labels = engine.cluster_labels(edges, Overrides())
    assert labels[0] == labels[2] and labels[1] != labels[0]
