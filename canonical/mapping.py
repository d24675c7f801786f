"""Turns a source's raw record into a canonical source record, and a canonical patch back into the
source's own field names, by the declarative rules in mappings/<system>.yaml."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from canonical import paths
from canonical.mapping_transforms import TRANSFORMS
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
    system: str
    entity: str
    source_id: Rule
    rules: tuple[Rule, ...]
    write_back: tuple[str, ...]

    def to_canonical(self, raw: dict) -> tuple[dict, list[Problem]]:
        """The canonical record (empty values left out) and any value a transform could not convert."""
        record, problems = {"source": self.system}, []
        for rule in (self.source_id, *self.rules):
            try:
                value = TRANSFORMS[rule.transform].forward(get_path(raw, rule.source))
            except (TypeError, ValueError) as exc:
                problems.append(Problem(rule.canonical, f"cannot convert {rule.source}: {type(exc).__name__}"))
                continue
            if value not in EMPTY:
                set_path(record, rule.canonical, value)
        return record, problems

    def to_source(self, patch: dict) -> dict:
        """A canonical {field: value} patch in the source's own names; only write-back fields."""
        out = {}
        for field, value in patch.items():
            if field not in self.write_back:
                raise MappingError(f"{self.system}: {field!r} is not a write-back field")
            rule = self._rule_for(field)
            set_path(out, rule.source, TRANSFORMS[rule.transform].reverse(value))
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


@lru_cache(maxsize=32)
def load(system: str, directory: Path | None = None) -> Mapping:
    path = (directory or paths.mappings_dir()) / f"{system}.yaml"
    spec = yaml.safe_load(path.read_text())
    rules = tuple(_rule(name, body, path) for name, body in spec["fields"].items())
    mapping = Mapping(spec["system"], spec["entity"], _rule("source_id", spec["source_id"], path),
                      rules, tuple(spec.get("write_back") or ()))
    unread = [f for f in mapping.write_back if f not in {r.canonical for r in rules}]
    if unread:
        raise MappingError(f"{path}: write_back names fields it does not read: {unread}")
    return mapping


def _rule(canonical: str, body: dict, path: Path) -> Rule:
    transform = body.get("transform", "identity")
    if transform not in TRANSFORMS:
        raise MappingError(f"{path}: field {canonical}: unknown transform {transform!r} (known: {sorted(TRANSFORMS)})")
    return Rule(canonical, body["from"], transform)
