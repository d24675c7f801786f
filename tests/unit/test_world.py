"""The generated world of messy customers: deterministic, independent per system, true to its
ground truth, and messy in each of the ways the matching engine has to beat."""
import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from adapters.world import SYSTEMS, World, source_id_for
from adapters.world.names import NICKNAMES, fold
from adapters.world.people import iso
from adapters.world.views import changed_at

REPO = Path(__file__).resolve().parents[2]
INDEXED = ("zendesk", "shopify", "hubspot")
COVERAGE = {"zendesk": 0.45, "shopify": 0.60, "twilio": 0.35, "hubspot": 0.55, "mailchimp": 0.50}
# "(415) 555-0134", "+1 415 555 0134", "4155550134", "+14155550134", "415.555.0134",
# "1-415-555-0134" with every digit (the country code's too) written as 9.
US_FORMATS = {"(999) 999-9999", "+9 999 999 9999", "9999999999", "+99999999999", "999.999.9999",
              "9-999-999-9999"}
E164 = re.compile(r"^\+[1-9]\d{7,14}$")


@pytest.fixture(scope="module")
def world():
    return World(seed=11, people=5000)


@pytest.fixture(scope="module")
def people(world):
    return {person.person_id: person for person in world.people}


def _dump(world: World) -> str:
    asdict = dataclasses.asdict
    return json.dumps({
        "people": [asdict(p) for p in world.people],
        "views": {s: [asdict(v) for v in world.views(s)] for s in SYSTEMS},
        "activities": {s: [asdict(a) for a in world.activities(s)] for s in SYSTEMS},
    }, ensure_ascii=False, sort_keys=True)


def _digest_in_fresh_interpreter(hash_seed: str) -> str:
    code = ("import hashlib, sys; sys.path.insert(0, 'tests/unit'); from test_world import _dump; "
            "from adapters.world import World; "
            "print(hashlib.sha256(_dump(World(3, 300)).encode()).hexdigest())")
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True,
                            capture_output=True, text=True)
    return result.stdout.strip()


def test_same_seed_gives_the_same_world_byte_for_byte():
    assert _dump(World(3, 800)) == _dump(World(3, 800))


def test_another_seed_gives_another_world():
    assert _dump(World(3, 800)) != _dump(World(4, 800))


def test_output_does_not_depend_on_string_hashing():
    # Set iteration order changes with PYTHONHASHSEED; nothing generated may depend on it.
    in_process = hashlib.sha256(_dump(World(3, 300)).encode()).hexdigest()
    assert _digest_in_fresh_interpreter("1") == _digest_in_fresh_interpreter("2") == in_process


def test_building_one_system_never_changes_another():
    first = World(5, 1500)
    first.views("shopify")
    first.activities("twilio")
    second = World(5, 1500)
    assert first.views("zendesk") == second.views("zendesk")
    assert first.activities("zendesk") == second.activities("zendesk")


def test_each_system_covers_its_share_of_people(world):
    for system, share in COVERAGE.items():
        covered = len({view.person_id for view in world.views(system)}) / len(world.people)
        assert abs(covered - share) < 0.05, (system, covered)


def test_shoppers_are_likelier_to_be_in_mailchimp(world, people):
    shoppers = {view.person_id for view in world.views("shopify")}
    members = {view.person_id for view in world.views("mailchimp")}
    emailed = [pid for pid, person in people.items() if person.emails]

    def share(group):
        return sum(pid in members for pid in group) / len(group)

    buyers = [p for p in emailed if p in shoppers]
    others = [p for p in emailed if p not in shoppers]
    assert share(buyers) > share(others) + 0.1


@pytest.mark.parametrize("system", INDEXED)
def test_some_people_have_two_records(world, system):
    records = defaultdict(list)
    for view in world.views(system):
        records[view.person_id].append(view)
    doubled = [pair for pair in records.values() if len(pair) == 2]
    assert max(len(views) for views in records.values()) == 2
    assert 0.01 < len(doubled) / len(records) < 0.06
    # The second record is a second account: another email, or a name typed differently.
    differing = [a for a, b in doubled
                 if _clean(a.email) != _clean(b.email) or _names(a) != _names(b)]
    assert len(differing) >= 0.8 * len(doubled)


@pytest.mark.parametrize("system", ("twilio", "mailchimp"))
def test_keyed_systems_hold_one_record_per_person(world, system):
    counts = Counter(view.person_id for view in world.views(system))
    assert max(counts.values()) == 1


def _names(view):
    return view.full_name, view.given_name, view.family_name


def _clean(email):
    return email.strip().lower() if email else None


def test_views_use_nicknames(world, people):
    views = world.views("shopify")
    nicknamed = [v for v in views
                 if v.given_name in NICKNAMES.get(people[v.person_id].given_name, ())]
    assert 0.03 < len(nicknamed) / len(views) < 0.12


def test_zendesk_keeps_one_name_field_sometimes_family_first(world):
    views = world.views("zendesk")
    assert all(v.full_name and v.given_name is None and v.family_name is None for v in views)
    family_first = sum(", " in v.full_name for v in views) / len(views)
    assert 0.05 < family_first < 0.15


def test_names_carry_typos_case_and_lost_accents(world, people):
    views = [v for s in ("shopify", "hubspot") for v in world.views(s) if v.family_name]
    shouted = [v for v in views if v.family_name.isupper() and len(v.family_name) > 2]
    lost_accents = [v for v in views if v.family_name != people[v.person_id].family_name
                    and v.family_name == fold(people[v.person_id].family_name)]
    accented = [v for v in views if not people[v.person_id].family_name.isascii()]
    typos = [v for v in views if v.family_name.lower() not in
             {people[v.person_id].family_name.lower(),
              fold(people[v.person_id].family_name).lower()}]
    assert shouted and typos
    assert 0.15 < len(lost_accents) / len(accented) < 0.45


def test_some_systems_hold_a_stale_email(world, people):
    for system in SYSTEMS:
        changed = [v for v in world.views(system)
                   if v.email and not v.malformed and len(people[v.person_id].emails) > 1]
        stale = [v for v in changed if _clean(v.email) in people[v.person_id].emails[1:]]
        assert 0.25 < len(stale) / len(changed) < 0.55, system


def test_emails_are_typed_messily_except_in_mailchimp(world):
    for system in ("zendesk", "shopify", "hubspot"):
        emails = [v.email for v in world.views(system) if v.email]
        assert any(e != e.strip() for e in emails)
        assert any(e.strip() != e.strip().lower() for e in emails)
    assert all(v.email == v.email.strip().lower() for v in world.views("mailchimp"))


def test_phones_come_in_many_formats_some_stale(world, people):
    views = [v for s in ("zendesk", "shopify", "hubspot") for v in world.views(s)
             if v.phone and not v.malformed]
    shapes = {re.sub(r"\d", "9", v.phone) for v in views}
    assert US_FORMATS <= shapes
    assert any(v.phone.startswith(("+44 ", "+49 ", "+33 ", "+55 ")) for v in views)
    stale = [v for v in views
             if _digits(v.phone) in {_digits(p) for p in people[v.person_id].phones[1:]}]
    assert stale


def _digits(phone: str) -> str:
    # The last nine digits tell numbers apart whatever the prefix and punctuation.
    return re.sub(r"\D", "", phone)[-9:]


def test_households_share_their_landline_and_address(people):
    households = defaultdict(list)
    for person in people.values():
        if person.household_id:
            households[person.household_id].append(person)
    assert 0.05 < sum(map(len, households.values())) / len(people) < 0.11
    assert {len(members) for members in households.values()} <= {2, 3, 4}
    for members in households.values():
        assert len({m.phones[0] for m in members}) == 1
        assert all(m.addresses[0] == members[0].addresses[0] for m in members)


def test_some_household_members_share_an_email():
    everyone = World(seed=11, people=30000).people
    by_email = Counter(p.emails[0] for p in everyone if p.emails)
    shared = [e for e, n in by_email.items() if n > 1]
    assert shared
    holders = [p for p in everyone if p.emails and p.emails[0] in shared]
    assert all(p.household_id for p in holders)


def test_twilio_directory_is_keyed_by_e164_numbers_of_their_first_holder(world, people):
    views = world.views("twilio")
    ids = [v.source_id for v in views]
    assert len(set(ids)) == len(ids)
    assert all(E164.match(i) for i in ids)
    assert ids == sorted(ids, key=lambda i: int(i[1:]))
    holders = defaultdict(list)
    for person in people.values():
        for phone in person.phones:
            holders[phone].append(person.person_id)
    assert all(v.phone == v.source_id and v.person_id == min(holders[v.source_id]) for v in views)
    assert any(len(holders[v.source_id]) > 1 for v in views)


def test_mailchimp_ids_are_md5_of_the_clean_email(world):
    views = world.views("mailchimp")
    assert all(v.source_id == hashlib.md5(v.email.encode()).hexdigest() for v in views)
    assert all(source_id_for("mailchimp", 0, view_email=f" {v.email.upper()} ") == v.source_id
               for v in views[:50])


@pytest.mark.parametrize("system", INDEXED)
def test_indexed_systems_number_their_records_in_creation_order(world, system):
    views = world.views(system)
    assert [v.source_id for v in views] == [source_id_for(system, i) for i in range(len(views))]
    created = [v.created_at for v in views]
    assert created == sorted(created)


def test_source_ids_are_unique_per_system(world):
    for system in SYSTEMS:
        ids = [v.source_id for v in world.views(system)]
        assert len(ids) == len(set(ids)), system


def test_source_id_for_rejects_what_it_cannot_number():
    with pytest.raises(ValueError):
        source_id_for("salesforce", 1)
    with pytest.raises(ValueError):
        source_id_for("mailchimp", 1)
    assert source_id_for("zendesk", 2) == "360000000014"
    assert source_id_for("shopify", 2) == "gid://shopify/Customer/7100000002"
    assert source_id_for("hubspot", 2) == "51006"


def test_timestamps_are_ordered_bounded_and_sometimes_tied(world):
    for system in SYSTEMS:
        views = world.views(system)
        assert all(v.created_at <= v.updated_at for v in views)
        assert all("2024-01-01T00:00:00Z" <= v.updated_at <= "2026-06-30T23:59:59Z" for v in views)
        updated = sorted(v.updated_at for v in views)
        ties = sum(a == b for a, b in zip(updated, updated[1:])) / len(views)
        assert 0.05 < ties < 0.15, system


def test_a_system_holds_an_old_value_only_if_it_met_the_person_before_the_change(world, people):
    """Staleness follows time, as it does in real systems: a record holding a value its person has
    since changed was created before the change, and one holding the new value was written after."""
    held = Counter()
    for system in SYSTEMS:
        for view in world.views(system):
            person = people[view.person_id]
            for field, is_new in _held(view, person).items():
                day = iso(changed_at(world.seed, person.person_id, field))
                if is_new:
                    assert view.updated_at >= day, (system, view.source_id, field)
                else:
                    assert view.created_at < day, (system, view.source_id, field)
                held[is_new] += 1
    assert held[False] > 300 and held[True] > 300


def _held(view, person) -> dict[str, bool]:
    """Per changed field the record holds a value of: whether it is the current one."""
    held = {}
    if len(person.emails) > 1 and not view.malformed and _clean(view.email) in person.emails:
        held["emails"] = _clean(view.email) == person.emails[0]
    numbers = [_digits(p) for p in person.phones]
    if len(numbers) > 1 and view.phone and _digits(view.phone) in numbers and numbers.count(_digits(view.phone)) == 1:
        held["phones"] = _digits(view.phone) == numbers[0]
    places = [(a["postcode"], a["line1"].casefold().split()[0]) for a in person.addresses]
    if len(places) > 1 and view.address and places[0] != places[1]:
        place = (view.address["postcode"], view.address["line1"].casefold().split()[0])
        held["addresses"] = place == places[0]
    return held


def test_consent_is_a_possibly_stale_prefix_of_the_history(world, people):
    channels = {"zendesk": set(), "twilio": set(), "shopify": {"email", "sms"},
                "hubspot": {"email"}, "mailchimp": {"email"}}
    for system, allowed in channels.items():
        behind = 0
        for view in world.views(system):
            assert set(view.consent) <= allowed
            for channel, heard in view.consent.items():
                history = people[view.person_id].consent[channel]
                assert (heard["status"], heard["updated_at"]) in history
                behind += heard["updated_at"] != history[-1][1]
        assert (behind > 0) == bool(allowed), system


def test_truth_maps_every_record_and_holds_every_person(world, people, tmp_path):
    truth = world.truth()
    expected = {f"{s}:{v.source_id}": v.person_id for s in SYSTEMS for v in world.views(s)}
    assert truth["records"] == expected
    assert len(expected) == sum(len(world.views(s)) for s in SYSTEMS)
    assert set(truth["people"]) == set(people)
    for pid, current in truth["people"].items():
        person = people[pid]
        assert current["given_name"] == person.given_name
        assert current["address"] == person.addresses[0]
        assert current["email"] == (person.emails[0] if person.emails else None)
        assert current["consent"] == {c: events[-1][0] for c, events in person.consent.items()}
    world.write_truth(tmp_path / "truth.json")
    assert json.loads((tmp_path / "truth.json").read_text(encoding="utf-8")) == truth


def test_activities_link_to_records_and_orphans_link_to_none(world):
    kinds = {"zendesk": "ticket", "shopify": "order", "twilio": "call", "hubspot": "email_event",
             "mailchimp": "email_event"}
    for system, kind in kinds.items():
        owner = {v.source_id: v.person_id for v in world.views(system)}
        activities = world.activities(system)
        assert {a.kind for a in activities} == {kind}
        assert len({a.source_id for a in activities}) == len(activities)
        orphans = [a for a in activities if a.person_id is None]
        assert 0.01 < len(orphans) / len(activities) < 0.04, system
        assert all(a.customer_ref not in owner for a in orphans)
        assert all(owner[a.customer_ref] == a.person_id for a in activities if a.person_id)
    assert all(E164.match(a.customer_ref) for a in world.activities("twilio"))


def test_activity_volume_follows_each_systems_rate(world):
    rates = {"zendesk": 1.5, "shopify": 2.0, "twilio": 2.0, "hubspot": 1.0, "mailchimp": 3.0}
    for system, rate in rates.items():
        linked = sum(a.person_id is not None for a in world.activities(system))
        assert abs(linked / len(world.views(system)) - rate) < 0.25 * rate, system


def test_malformed_records_are_few_and_broken_as_labelled(world):
    both = {"email", "phone"}
    kinds = {"zendesk": both, "shopify": both, "hubspot": both, "mailchimp": {"phone"},
             "twilio": {"email"}}
    for system, allowed in kinds.items():
        views = world.views(system)
        broken = [v for v in views if v.malformed]
        assert len(broken) == max(round(len(views) * 0.005), 2)
        counts = Counter(v.malformed for v in broken)
        assert set(counts) == allowed and max(counts.values()) - min(counts.values()) <= 1
        assert all("@" not in v.email for v in broken if v.malformed == "email")
        assert all(re.search(r"[a-zA-Z]", v.phone) for v in broken if v.malformed == "phone")
    clean = [v for s in SYSTEMS for v in world.views(s) if not v.malformed]
    assert all("@" in v.email for v in clean if v.email)


def test_a_small_world_still_gets_two_malformed_records_per_system():
    small = World(seed=2, people=600)
    for system in SYSTEMS:
        views = small.views(system)
        if len(views) >= 200:
            assert sum(v.malformed is not None for v in views) >= 2, system


def test_twenty_thousand_people_give_every_system_unique_record_ids():
    # How fast a world builds is the benchmarks' business (bench/), not a timed test's.
    big = World(seed=1, people=20000)
    for system in SYSTEMS:
        ids = [v.source_id for v in big.views(system)]
        assert len(ids) > 2000 and len(set(ids)) == len(ids), system
