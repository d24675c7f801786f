"""Turns a source's raw record into a canonical record (a customer's source record, or an activity),
and a canonical patch back into the source's own field names, by the declarative rules in
mappings/<system>.yaml: one block per stream the system's adapter reads."""
from __future__ import annotations

from dataclasses import dataclass, field as dataclass_field
from functools import lru_cache
from pathlib import Path

import yaml

from canonical import paths
from canonical.mapping_transforms import Transform, for_system
from canonical.validate import Problem

EMPTY = (None, "", [], {})


@dataclass(frozen=True)
class Rule:
    canonical: str
    source: str
    transform: str = "identity"


class MappingError(ValueError):
    """The mapping file itself is wrong: a bad transform name, a write-back field it does not read."""


@dataclass(frozen=True)
class Mapping:
    """The rules of one stream: `kind` is "customer" or "activity" (then `activity` names which)."""

    system: str
    entity: str
    kind: str
    activity: str | None
    source_id: Rule
    rules: tuple[Rule, ...]
    write_back: tuple[str, ...]
    transforms: dict[str, Transform]
    # The stream's `sync_policy` block as written: unique fields, creation, identity (canonical/sync/policy.py).
    policy: dict = dataclass_field(default_factory=dict)

    def to_canonical(self, raw: dict) -> tuple[dict, list[Problem]]:
        """The canonical record (empty values left out) and any value a transform could not convert."""
        record, problems = {"source": self.system}, []
        if self.activity:
            record["kind"] = self.activity
        for rule in (self.source_id, *self.rules):
            try:
                value = self.transforms[rule.transform].forward(get_path(raw, rule.source))
            except (TypeError, ValueError) as exc:
                problems.append(Problem(rule.canonical, f"cannot convert {rule.source}: {type(exc).__name__}"))
                continue
            if value not in EMPTY:
                set_path(record, rule.canonical, value)
        return record, problems

    def to_source(self, patch: dict, also: tuple[str, ...] = ()) -> dict:
        """A canonical {field: value} patch in the source's own names; only write-back fields, and the
        fields named in `also` (what a create is made with)."""
        out = {}
        for field, value in patch.items():
            if field not in self.write_back and field not in also:
                raise MappingError(f"{self.system}: {field!r} is not a write-back field")
            rule = self._rule_for(field)
            set_path(out, rule.source, self.transforms[rule.transform].reverse(value))
        return out

    def _rule_for(self, field: str) -> Rule:
        return next(r for r in self.rules if r.canonical == field)


def get_path(data: dict, dotted: str):
    for key in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def set_path(data: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[last] = value


@dataclass(frozen=True)
class SystemMapping:
    system: str
    streams: dict[str, Mapping]

    @property
    def customers(self) -> Mapping:
        """The stream that holds the system's customers (exactly one per system)."""
        return next(m for m in self.streams.values() if m.kind == "customer")

    def stream(self, name: str) -> Mapping:
        if name not in self.streams:
            raise MappingError(f"{self.system}: no mapping for stream {name!r} (mapped: {sorted(self.streams)})")
        return self.streams[name]


@lru_cache(maxsize=32)
def load(system: str, directory: Path | None = None) -> SystemMapping:
    path = (directory or paths.mappings_dir()) / f"{system}.yaml"
    spec = yaml.safe_load(path.read_text())
    transforms = for_system(spec["system"])
    streams = {name: _stream(spec["system"], name, body, path, transforms) for name, body in spec["streams"].items()}
    kinds = [m.kind for m in streams.values()]
    if kinds.count("customer") != 1 or set(kinds) - {"customer", "activity"}:
        raise MappingError(f"{path}: needs exactly one stream of kind customer, the others of kind activity")
    return SystemMapping(spec["system"], streams)


def _stream(system: str, name: str, spec: dict, path: Path, transforms: dict[str, Transform]) -> Mapping:
    rules = tuple(_rule(field, body, path, transforms) for field, body in spec["fields"].items())
    mapping = Mapping(system, name, spec.get("kind", "customer"), spec.get("activity"),
                      _rule("source_id", spec["source_id"], path, transforms), rules,
                      tuple(spec.get("write_back") or ()), transforms, dict(spec.get("sync_policy") or {}))
    named = [*mapping.write_back, *mapping.policy.get("unique", ()), *(mapping.policy.get("create") or {}).get("with", ())]
    unread = sorted({f for f in named if f not in {r.canonical for r in rules}})
    if unread:
        raise MappingError(f"{path}: stream {name}: write_back or sync_policy names fields it does not read: {unread}")
    return mapping


def _rule(canonical: str, body: dict, path: Path, transforms: dict[str, Transform]) -> Rule:
    transform = body.get("transform", "identity")
    if transform not in transforms:
        raise MappingError(f"{path}: field {canonical}: unknown transform {transform!r} (known: {sorted(transforms)})")
    return Rule(canonical, body["from"], transform)
