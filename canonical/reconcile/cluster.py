"""Clustering: which source records are one person. For now the one deterministic rule, a shared
normalized email; the probabilistic matcher plugs in as further edges into the same union-find."""
from __future__ import annotations

from dataclasses import dataclass

from canonical.reconcile import normalize

Key = tuple[str, str]  # (source, source_id)


@dataclass
class Cluster:
    members: list[Key]
    rules: dict[Key, str]  # why each member is in this cluster


class UnionFind:
    def __init__(self):
        self.parent: dict[Key, Key] = {}

    def add(self, key: Key) -> None:
        self.parent.setdefault(key, key)

    def find(self, key: Key) -> Key:
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:  # path compression keeps later finds flat
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a: Key, b: Key) -> None:
        self.parent[self.find(a)] = self.find(b)


def by_email(records: dict[Key, dict]) -> list[Cluster]:
    """Records sharing any normalized email are one cluster; the rest stand alone."""
    uf, first_with, rules = UnionFind(), {}, {}
    for key, canonical in sorted(records.items()):
        uf.add(key)
        rules[key] = "own_record"
        for address in filter(None, map(normalize.email, canonical.get("emails") or [])):
            if address in first_with:
                uf.union(key, first_with[address])
                rules[key] = rules[first_with[address]] = "exact_email"
            else:
                first_with[address] = key
    groups: dict[Key, list[Key]] = {}
    for key in sorted(records):
        groups.setdefault(uf.find(key), []).append(key)
    return [Cluster(members, {k: rules[k] for k in members}) for members in groups.values()]
