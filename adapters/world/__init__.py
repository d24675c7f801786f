"""A seeded, deterministic world of messy customers: the people (ground truth), how each of the
five systems sees them (records with noise) and what they did there (activities). Sandboxes serve
the views; benchmarks score reconciliation against truth().

    world = World(seed=1, people=10_000)
    world.views("zendesk")          # built on first use, then cached
    world.write_truth("truth.json")
"""
from __future__ import annotations

import json
from pathlib import Path

from .people import Person, Population, build_population
from .views import SYSTEMS, Activity, View, build_activities, build_views, source_id_for

__all__ = ["World", "Person", "View", "Activity", "SYSTEMS", "source_id_for"]


class World:
    """Everything is generated lazily, per system, and cached; the same (seed, people) always
    gives the same world, whatever is asked for first."""

    def __init__(self, seed: int, people: int):
        self.seed = seed
        self.size = people
        self._population: Population | None = None
        self._views: dict[str, list[View]] = {}
        self._activities: dict[str, list[Activity]] = {}

    def _people(self) -> Population:
        if self._population is None:
            self._population = build_population(self.seed, self.size)
        return self._population

    @property
    def people(self) -> list[Person]:
        return list(self._people().persons)

    def views(self, system: str) -> list[View]:
        """The system's records, ordered by source id (numerically where it is a number)."""
        _check(system)
        if system not in self._views:
            self._views[system] = build_views(system, self.seed, self._people())
        return list(self._views[system])

    def activities(self, system: str) -> list[Activity]:
        """The system's activities, oldest first, orphans (person_id None) included."""
        _check(system)
        if system not in self._activities:
            self._activities[system] = build_activities(system, self.seed, self.views(system))
        return list(self._activities[system])

    def truth(self) -> dict:
        """Which person every record belongs to, and every person's true current values."""
        records = {f"{system}:{view.source_id}": view.person_id
                   for system in SYSTEMS for view in self.views(system)}
        people = {person.person_id: person.current() for person in self._people().persons}
        return {"records": records, "people": people}

    def write_truth(self, path) -> None:
        Path(path).write_text(json.dumps(self.truth(), ensure_ascii=False, sort_keys=True),
                              encoding="utf-8")


def _check(system: str) -> None:
    if system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}; expected one of {SYSTEMS}")
