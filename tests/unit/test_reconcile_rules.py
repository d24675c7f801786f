from canonical.reconcile import cluster, ids, survive


def rec(source_id, email=None, updated="2025-01-01T00:00:00Z", **extra):
    return {"source": "zendesk", "source_id": source_id, "updated_at": updated,
            **({"emails": [email]} if email else {}), **extra}


def test_emails_that_differ_only_in_case_and_padding_are_one_person():
    records = {("zendesk", "1"): rec("1", " Ana.Lima@Example.COM "), ("zendesk", "2"): rec("2", "ana.lima@example.com"),
               ("zendesk", "3"): rec("3", "someone@else.org"), ("zendesk", "4"): rec("4")}
    clusters = cluster.by_email(records)
    members = sorted(c.members for c in clusters)
    assert members == [[("zendesk", "1"), ("zendesk", "2")], [("zendesk", "3")], [("zendesk", "4")]]
    pair = next(c for c in clusters if len(c.members) == 2)
    assert set(pair.rules.values()) == {"exact_email"}


def test_an_invalid_address_links_nothing():
    records = {("zendesk", "1"): rec("1", "not-an-address"), ("zendesk", "2"): rec("2", "NOT-AN-ADDRESS")}
    assert len(cluster.by_email(records)) == 2


def test_clusters_keep_their_previous_ids():
    a, b = ("zendesk", "1"), ("zendesk", "2")
    clusters = [cluster.Cluster([b], {}), cluster.Cluster([a], {})]
    assert ids.assign(clusters, {a: "cus_a", b: "cus_b"}, {}) == ["cus_b", "cus_a"]


def test_a_split_leaves_the_old_id_with_the_larger_part():
    a, b, c = ("zendesk", "1"), ("zendesk", "2"), ("zendesk", "3")
    clusters = [cluster.Cluster([a], {}), cluster.Cluster([b, c], {})]
    assigned = ids.assign(clusters, {a: "cus_x", b: "cus_x", c: "cus_x"}, {})
    assert assigned[1] == "cus_x" and assigned[0] not in ("cus_x", None)


def test_an_id_carried_by_the_source_is_reused_when_the_store_has_none():
    a = ("zendesk", "1")
    assert ids.assign([cluster.Cluster([a], {})], {}, {a: "cus_from_zendesk"}) == ["cus_from_zendesk"]


def test_the_most_recent_source_wins_and_lineage_names_the_others():
    old = rec("1", "old@example.com", "2024-01-01T00:00:00Z", full_name="Ana Lima")
    new = rec("2", "new@example.com", "2025-06-01T00:00:00Z")
    fields, lineage = survive.golden("cus_1", [old, new])
    assert fields["emails"] == ["new@example.com"] and fields["full_name"] == "Ana Lima"
    assert fields["external_ids"]["concord"] == "cus_1"
    assert lineage["emails"]["source_id"] == "2" and lineage["emails"]["rule"] == "most_recent"
    assert lineage["emails"]["others"] == [{"source": "zendesk", "source_id": "1", "value": ["old@example.com"]}]
