"""Survivorship per field with lineage, and the consent rule."""
import pytest

from canonical.reconcile import survive
from canonical.reconcile.consent import golden_consent


def rec(source, source_id, updated, **fields):
    return {"source": source, "source_id": source_id, "updated_at": updated, **fields}


def test_the_value_most_records_agree_on_wins_and_lineage_names_the_others():
    records = [rec("zendesk", "1", "2024-01-01T00:00:00Z", full_name="Lima, Ana", emails=[" ANA@lima.org"]),
               rec("hubspot", "2", "2026-01-01T00:00:00Z", given_name="Ana", family_name="Lima",
                   emails=["old@lima.org"]),
               rec("shopify", "3", "2025-01-01T00:00:00Z", given_name="Ana", family_name="Lima",
                   emails=["ana@lima.org"])]
    fields, lineage = survive.golden("cus_1", records)
    assert fields["emails"] == ["ana@lima.org", "old@lima.org"]
    assert lineage["emails"]["rule"] == "most_frequent" and lineage["emails"]["source_id"] == "3"
    assert lineage["emails"]["others"] == [{"source": "hubspot", "source_id": "2", "value": "old@lima.org"}]
    assert (fields["given_name"], fields["family_name"]) == ("Ana", "Lima")
    assert fields["external_ids"]["concord"] == "cus_1"


def test_ties_fall_through_to_the_next_rule():
    records = [rec("hubspot", "1", "2026-01-01T00:00:00Z", given_name="Bill", phones=["415 555 2671"]),
               rec("twilio", "+14155550100", "2024-01-01T00:00:00Z", given_name="William", phones=["+14155550100"])]
    given = survive.choose("given_name", records, ["most_frequent", "most_complete"], [])
    assert given["value"] == "William" and given["rule"] == "most_complete"  # the formal name over the nickname
    phone = survive.choose("phones", records, ["most_frequent", "source_priority"], ["twilio", "hubspot"])
    assert phone["value"] == "+14155550100" and phone["rule"] == "source_priority"
    recent = survive.choose("phones", records, ["most_recent"], [])
    assert recent["value"] == "+14155552671"


def test_spellings_of_one_address_count_as_one_value():
    # 'Terr' and 'Terrace' are one street: together they outvote an address only one record holds.
    home = {"line1": "7 Elm Terrace", "line2": "", "postcode": "94107", "country": "US"}
    records = [rec("shopify", "1", "2024-01-01T00:00:00Z", address=home),
               rec("hubspot", "2", "2024-01-01T00:00:00Z", address={**home, "line1": "7 Elm Terr"}),
               rec("mailchimp", "3", "2026-01-01T00:00:00Z",
                   address={**home, "line1": "12 Oak Avenue", "line2": "Apt 40B"})]
    won = survive.choose("address", records, ["most_frequent", "most_complete", "most_recent"], [])
    assert won["rule"] == "most_frequent" and won["value"]["line1"] in ("7 Elm Terrace", "7 Elm Terr")


def test_votes_fade_with_age_so_two_stale_records_lose_to_one_that_heard_of_the_move():
    old = {"line1": "7 Elm Terrace", "line2": "", "postcode": "94107", "country": "US"}
    new = {"line1": "12 Oak Avenue", "line2": "Apt 40B", "postcode": "10001", "country": "US"}
    stale = [rec("zendesk", "1", "2025-01-05T00:00:00Z", address=old),
             rec("hubspot", "2", "2025-02-01T00:00:00Z", address=old)]
    rules = ["recency_weighted", "most_recent"]
    # Two half-lives and more behind the newest record: 2 x 1/4 and less against 1.
    moved = stale + [rec("shopify", "3", "2025-08-01T00:00:00Z", address=new)]
    won = survive.choose("address", moved, rules, [], half_life_days=60)
    assert won["value"] == new and won["rule"] == "recency_weighted"
    # Records of one season: agreement still wins over the newest.
    same_season = stale + [rec("shopify", "3", "2025-02-10T00:00:00Z", address=new)]
    assert survive.choose("address", same_season, rules, [], half_life_days=60)["value"] == old
    # A long half-life is most_frequent; a short one is most_recent.
    assert survive.choose("address", moved, rules, [], half_life_days=3650)["value"] == old
    assert survive.choose("address", same_season, rules, [], half_life_days=1)["value"] == new


def test_equal_fading_votes_tie_and_fall_through():
    records = [rec("twilio", "+14155550100", "2025-03-01T00:00:00Z", phones=["+14155550100"]),
               rec("hubspot", "1", "2025-03-01T00:00:00+00:00", phones=["415 555 2671"])]
    won = survive.choose("phones", records, ["recency_weighted", "source_priority"], ["hubspot", "twilio"])
    assert won["value"] == "+14155552671" and won["rule"] == "source_priority"


def test_a_half_life_that_is_not_a_positive_number_is_refused(tmp_path):
    config = tmp_path / "survivorship.yaml"
    for bad in ("0", "-3", "soon", "true"):
        config.write_text("half_life_days: 90\nfields:\n"
                          f"  address: {{rules: [recency_weighted], half_life_days: {bad}}}\n")
        with pytest.raises(ValueError, match="field address: half_life_days"):
            survive.load_config(str(config))
    config.write_text("half_life_days: 30\nfields:\n  address: {rules: [recency_weighted]}\n")
    assert survive.load_config(str(config))["address"]["half_life_days"] == 30.0


def test_a_full_name_in_a_tie_goes_to_the_one_the_email_addresses_spell():
    # Two helpdesk users of one person: the newer under a nickname. The golden full name should agree
    # with the golden given name (Roberto, which the addresses spell), not with the newer record.
    records = [rec("zendesk", "1", "2024-04-05T00:00:00Z", full_name="Carter, Roberto",
                   emails=["roberto.carter@btinternet.com"]),
               rec("zendesk", "2", "2025-07-22T00:00:00Z", full_name="Beo Carter",
                   emails=["roberto.carteer@btinternet.com"])]
    fields, lineage = survive.golden("cus_1", records)
    assert fields["given_name"] == "Roberto"
    assert fields["full_name"] == "Carter, Roberto" and lineage["full_name"]["rule"] == "most_corroborated"


def test_the_best_kept_spelling_is_shown():
    records = [rec("a", "1", "2025-01-01T00:00:00Z", given_name="RENÉE"), rec("b", "2", "2025-01-02T00:00:00Z",
               given_name="Renee"), rec("c", "3", "2024-01-01T00:00:00Z", given_name="Renée")]
    assert survive.choose("given_name", records, ["most_frequent"], [])["value"] == "Renée"


def test_the_configuration_is_read_and_checked():
    config = survive.load_config()
    # A person's edit comes first on every field; the data's own rules decide where nobody edited.
    assert all(spec["rules"][0] == "most_recent_edit" for spec in config.values())
    assert config["birth_date"]["rules"][1] == "most_frequent"
    assert config["phones"]["priority"][-1] == "twilio" and config["given_name"]["rules"][1] == "most_corroborated"
    assert config["address"]["rules"][1] == "recency_weighted" and config["address"]["half_life_days"] > 0
    assert set(config) >= {"given_name", "family_name", "emails", "phones", "address", "birth_date"}


def consent(status, at):
    return {"email": {"status": status, "updated_at": at}}


def test_an_older_opt_in_never_overwrites_a_newer_opt_out():
    records = [rec("mailchimp", "m", "2026-06-01T00:00:00Z", consent=consent("subscribed", "2024-01-01T00:00:00Z")),
               rec("hubspot", "h", "2024-01-01T00:00:00Z", consent=consent("unsubscribed", "2025-03-01T00:00:00Z"))]
    fields, lineage = golden_consent(records)
    assert fields["email"]["status"] == "unsubscribed" and lineage["email"]["source"] == "hubspot"


def test_a_newer_opt_in_wins_and_a_tie_goes_to_the_opt_out():
    newer = [rec("a", "1", "2025-01-01T00:00:00Z", consent=consent("unsubscribed", "2024-01-01T00:00:00Z")),
             rec("b", "2", "2025-01-01T00:00:00Z", consent=consent("subscribed", "2025-05-01T00:00:00Z"))]
    assert golden_consent(newer)[0]["email"]["status"] == "subscribed"
    tie = [rec("a", "1", "2025-01-01T00:00:00Z", consent=consent("subscribed", "2025-05-01T00:00:00Z")),
           rec("b", "2", "2025-01-01T00:00:00Z", consent=consent("unsubscribed", "2025-05-01T00:00:00Z"))]
    assert golden_consent(tie)[0]["email"]["status"] == "unsubscribed"


def test_pending_never_beats_an_explicit_answer():
    records = [rec("a", "1", "2025-01-01T00:00:00Z", consent=consent("unsubscribed", "2024-01-01T00:00:00Z")),
               rec("b", "2", "2025-01-01T00:00:00Z", consent=consent("pending", "2026-01-01T00:00:00Z"))]
    assert golden_consent(records)[0]["email"]["status"] == "unsubscribed"


def test_a_name_the_email_addresses_spell_beats_a_typo():
    records = [rec("a", "1", "2026-01-01T00:00:00Z", given_name="Matthew", family_name="Knag",
                   emails=["mtthewkang@bt.com"]),
               rec("b", "2", "2024-01-01T00:00:00Z", given_name="Matthew", family_name="Kang",
                   emails=["matthewkang@bt.com"])]
    fields, lineage = survive.golden("cus_1", records)
    assert fields["family_name"] == "Kang" and lineage["family_name"]["rule"] == "most_corroborated"
    assert fields["emails"][0] == "matthewkang@bt.com"
