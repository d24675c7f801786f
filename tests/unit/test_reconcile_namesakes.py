"""A names-and-town link between the only namesakes in town (namesakes.py) meets the ordinary bar."""
import numpy as np
import pytest

from canonical.reconcile import compare
from canonical.reconcile.engine import DETERMINISTIC, RULES, Edges, Engine, Overrides
from canonical.reconcile.features import Features

TOWN = {"line1": "12 Main St", "postcode": "94107", "country": "US", "city": "SF"}
ELSEWHERE = {"line1": "3 Oak Ave", "postcode": "10001", "country": "US", "city": "New York"}


def _world(extra, ana_email=False):
    """30 people each with a HubSpot and a Shopify record sharing a number (confident links), then
    "Ana Lima" the same way in TOWN (rows 60, 61), then a Twilio "Ana Lima" with a number of her own in
    TOWN (row 62), then `extra`."""
    records = []
    for i in range(31):
        given, family = ("Ana", "Lima") if i == 30 else (f"Given{i}", f"Family{i}")
        for source in ("hubspot", "shopify"):
            records.append({"source": source, "given_name": given, "family_name": family,
                            "phones": [f"+1{415 if i == 30 else 212}555{i:04d}"],
                            "address": TOWN if i == 30 else ELSEWHERE})
    if ana_email:
        records[60]["emails"] = ["ana.lima@example.com"]
    records.append({"source": "twilio", "given_name": "Ana", "family_name": "Lima", "phones": ["+14155559999"],
                    "address": TOWN})
    features = Features()
    for i, record in enumerate(records + extra):
        features.add({"source_id": str(i), "updated_at": "2025-01-01T00:00:00Z", **record})
    return features.freeze()


def _edges(features, posterior):
    """The pairs sharing a number, linked by the rule, and (60, 62): names and the town only."""
    a, b = list(range(0, 62, 2)) + [60], list(range(1, 62, 2)) + [62]
    gamma = np.zeros((len(a), len(compare.FIELDS)), dtype=np.int8)
    for name in ("given", "family"):
        gamma[:, compare.FIELDS.index(name)] = 1
    gamma[:31, compare.FIELDS.index("phone")] = 1
    gamma[31:, compare.FIELDS.index("phone")] = 2  # her Twilio number is not the one the others hold
    gamma[31:, compare.FIELDS.index("place")] = 1
    weight = np.array([DETERMINISTIC] * 31 + [np.log2(posterior / (1 - posterior))], dtype=np.float32)
    rule = np.array([RULES.index("exact_phone")] * 31 + [0], dtype=np.int8)
    return Edges(np.array(a), np.array(b), gamma, weight, rule, np.ones(len(a), dtype=bool))


def _joined(features, posterior=0.35) -> bool:
    labels = Engine(features).cluster_labels(_edges(features, posterior), Overrides())
    return bool(labels[62] == labels[60])


def test_the_only_namesakes_in_town_without_an_email_join_under_the_stricter_bar():
    assert _joined(_world([]))


def test_a_third_holder_of_the_name_in_town_keeps_them_apart():
    rival = {"source": "hubspot", "given_name": "Ana", "family_name": "Lima", "address": TOWN}
    assert not _joined(_world([rival]))


def test_a_namesake_elsewhere_is_no_rival():
    other = {"source": "hubspot", "given_name": "Ana", "family_name": "Lima", "address": ELSEWHERE}
    assert _joined(_world([other]))


def test_a_rival_holding_a_record_of_both_sides_systems_is_someone_else():
    # a Twilio and a HubSpot record of one other Ana Lima in town: neither system holds a person twice
    rival = [{"source": "hubspot", "given_name": "Ana", "family_name": "Lima", "address": TOWN,
              "phones": ["+14155558888"]},
             {"source": "twilio", "given_name": "Ana", "family_name": "Lima", "phones": ["+14155558888"],
              "address": TOWN}]
    features = _world(rival)
    edges = _edges(features, 0.35)
    rule_pair = Edges(np.r_[edges.a, 63], np.r_[edges.b, 64], np.r_[edges.gamma, edges.gamma[:1]],
                      np.r_[edges.weight, DETERMINISTIC].astype(np.float32), np.r_[edges.rule, edges.rule[:1]],
                      np.ones(len(edges.a) + 1, dtype=bool))
    labels = Engine(features).cluster_labels(rule_pair, Overrides())
    assert labels[63] == labels[64] != labels[60]
    assert labels[62] == labels[60]


def test_an_email_on_either_side_keeps_the_stricter_bar():
    assert not _joined(_world([], ana_email=True))


@pytest.mark.parametrize("posterior, joined", [(0.35, True), (0.2, False)])
def test_the_link_still_needs_its_own_bar(posterior, joined):
    assert _joined(_world([]), posterior) == joined
