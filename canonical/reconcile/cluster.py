"""Clustering: accepted links -> people. Connected components over the accepted edges, then a guard
against chaining: a component holding two records with strong evidence of being different people
(different birth dates, clearly different given names that are no nickname of each other, places
that never meet, different emails and numbers, or a forbidden link) is rebuilt by adding its edges
strongest first and refusing every edge that would join such a pair. A household sharing a phone
and an address stays several people; one family email does not make one person."""
from __future__ import annotations

import numpy as np

from canonical.reconcile.compare import FIELDS, Comparator

EMAIL, PHONE, GIVEN, BIRTH, PLACE = (FIELDS.index(name) for name in ("email", "phone", "given", "birth", "place"))
EMAIL_DIFFERENT, PHONE_DIFFERENT, GIVEN_DIFFERENT, BIRTH_DIFFERENT, PLACE_DIFFERENT = 3, 2, 5, 3, 2
LARGEST_CHECKED = 2000  # all pairs of a bigger component would cost more than they prove


class UnionFind:
    """Union-find over row numbers, with path halving."""

    def __init__(self, size: int):
        self.parent = list(range(size))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[max(ra, rb)] = min(ra, rb)
        return True

    def labels(self) -> np.ndarray:
        return np.fromiter((self.find(x) for x in range(len(self.parent))), dtype=np.int64,
                           count=len(self.parent))


def conflicts(gamma: np.ndarray) -> np.ndarray:
    """Strong negative evidence per pair: different birth dates; clearly different given names;
    two places where neither record's group of contact-linked records has ever been seen at the
    other's; or both a different email address and a different number. The last two are how two
    namesakes get chained through a record that holds nothing but the name: one person seldom
    changes address and number, or email and number, between two systems."""
    return ((gamma[:, GIVEN] == GIVEN_DIFFERENT) | (gamma[:, BIRTH] == BIRTH_DIFFERENT)
            | (gamma[:, PLACE] == PLACE_DIFFERENT)
            | ((gamma[:, EMAIL] == EMAIL_DIFFERENT) & (gamma[:, PHONE] == PHONE_DIFFERENT)))


def components(size: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A label per row: the smallest row of its connected component. Only rows on an edge enter
    the union-find, so that an incremental pass over a few edges stays cheap on a large table."""
    labels = np.arange(size, dtype=np.int64)
    if len(a) == 0:
        return labels
    nodes, local = np.unique(np.r_[a, b].astype(np.int64), return_inverse=True)
    uf = UnionFind(len(nodes))
    for x, y in zip(local[:len(a)].tolist(), local[len(a):].tolist()):
        uf.union(x, y)
    labels[nodes] = nodes[uf.labels()]
    return labels


def _pairs_within(labels: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of `rows` that share a label (components up to LARGEST_CHECKED rows)."""
    order = np.argsort(labels[rows], kind="stable")
    rows, codes = rows[order], labels[rows][order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    sizes = np.diff(np.r_[starts, len(codes)])
    left, right = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for size in np.unique(sizes[(sizes >= 3) & (sizes <= LARGEST_CHECKED)]):
        first = starts[sizes == size][:, None]
        i, j = np.triu_indices(int(size), 1)
        left.append(rows[first + i].ravel())
        right.append(rows[first + j].ravel())
    return np.concatenate(left), np.concatenate(right)


def guarded(size: int, a: np.ndarray, b: np.ndarray, weight: np.ndarray, comparator: Comparator,
            forbidden: set[tuple[int, int]] = frozenset(), rows: np.ndarray | None = None,
            forced: set[tuple[int, int]] = frozenset()) -> np.ndarray:
    """Cluster labels (a row number per row) from accepted edges (a, b) with their weights. A forced
    pair is never a cannot-link, whatever its fields say: a person has decided."""
    labels = components(size, a, b)
    rows = np.arange(size) if rows is None else rows
    counts = np.bincount(labels[rows], minlength=size)
    big = rows[counts[labels[rows]] >= 3]
    x, y = _pairs_within(labels, big)
    bad = conflicts(comparator.levels(x, y)) if len(x) else np.zeros(0, bool)
    cannot = (set(zip(x[bad].tolist(), y[bad].tolist())) | set(forbidden)) - set(forced)
    broken = {labels[r] for pair in cannot for r in pair if labels[pair[0]] == labels[pair[1]]}
    if not broken:
        return labels
    edges = np.flatnonzero(np.isin(labels[a], list(broken)))
    return _rebuild(labels, a[edges], b[edges], weight[edges], cannot, broken)


def _rebuild(labels: np.ndarray, a, b, weight, cannot: set, broken: set) -> np.ndarray:
    """Strongest edges first; an edge that would put a cannot-link pair together is refused."""
    enemies: dict[int, set[int]] = {}
    for x, y in cannot:
        enemies.setdefault(x, set()).add(y)
        enemies.setdefault(y, set()).add(x)
    members = {r: {r} for r in np.flatnonzero(np.isin(labels, list(broken))).tolist()}
    owner = {r: r for r in members}
    for i in np.argsort(-weight, kind="stable").tolist():
        ga, gb = owner[int(a[i])], owner[int(b[i])]
        if ga == gb or any(enemies.get(r, set()) & members[gb] for r in members[ga]):
            continue
        if len(members[ga]) < len(members[gb]):
            ga, gb = gb, ga
        for r in members[gb]:
            owner[r] = ga
        members[ga] |= members.pop(gb)
    labels = labels.copy()
    for group, rows in members.items():
        labels[list(rows)] = min(rows)
    return labels
