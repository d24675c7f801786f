"""Erasure end to end against all five sandboxes: afterwards the person's email and phone occur
nowhere — the systems (read back through their APIs), the store, the landed raw data, the logs —
and three more sync runs do not bring them back."""
from __future__ import annotations

import json

from sqlalchemy import select

from adapters import registry
from adapters.world import World
from canonical import blobs
from canonical.cycle import run_cycle
from canonical.erasure import erase
from canonical.store import Base, engine

SEED, PEOPLE = 21, 300  # the world of the five_systems fixture (tests/conftest.py)


def widely_held_person(world: World):
    """Someone several systems know, with an email and a phone."""
    counts = {}
    for system in registry.known():
        for view in world.views(system):
            counts.setdefault(view.person_id, set()).add(system)
    people = {p.person_id: p for p in world.people}
    best = max((pid for pid in counts if people[pid].emails and people[pid].phones), key=lambda p: len(counts[p]))
    return people[best]


def everything_the_systems_serve() -> str:
    chunks = []
    for system in registry.configured():
        adapter = registry.build(system)
        for stream in adapter.streams:
            chunks += [json.dumps(page.records) for page in adapter.read(stream, None)]
    return "\n".join(chunks)


def everything_the_store_holds() -> str:
    with engine().connect() as c:
        return "\n".join(json.dumps([dict(r) for r in c.execute(select(t)).mappings()], default=str)
                         for t in Base.metadata.sorted_tables)


def everything_landed() -> str:
    return "\n".join(blobs.get(uri).decode() for uri in blobs.list_all())


def needles_of(person, world: World) -> set[str]:
    """Every spelling of the person's emails and phones that any system holds."""
    spelled = {v.email.strip() for s in registry.known() for v in world.views(s)
               if v.person_id == person.person_id and v.email}
    spelled |= {v.phone for s in registry.known() for v in world.views(s) if v.person_id == person.person_id and v.phone}
    return {n.casefold() for n in spelled | set(person.emails) | set(person.phones) if n}


def test_an_erased_person_is_gone_everywhere_and_stays_gone(five_systems, caplog, capsys, tmp_path):
    world = World(SEED, PEOPLE)
    person = widely_held_person(world)
    run_cycle()
    needles = needles_of(person, world)
    assert any(n in everything_the_store_holds().casefold() for n in needles)  # they were there

    summary = erase(email=person.emails[0], phone=person.phones[0])
    assert summary["erased"] and all(r["failed"] == 0 for r in summary["erased"].values())
    for _ in range(3):
        run_cycle()
    places = {"systems": everything_the_systems_serve(), "store": everything_the_store_holds(),
              "landing": everything_landed(), "logs": caplog.text + "".join(capsys.readouterr())
              + "".join(p.read_text(errors="replace") for p in tmp_path.glob("*.log"))}
    leaks = {place: [n for n in needles if n in text.casefold()] for place, text in places.items()}
    assert leaks == {place: [] for place in places}, where(needles)


def where(needles: set[str]) -> dict:
    found = {}
    for system in registry.configured():
        adapter = registry.build(system)
        for stream in adapter.streams:
            text = "\n".join(json.dumps(page.records) for page in adapter.read(stream, None)).casefold()
            found[f"{system}/{stream}"] = [n for n in needles if n in text]
    return found
