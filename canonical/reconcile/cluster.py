"""Clustering: accepted links -> people. Connected components over the accepted edges, then a guard
against chaining: a component holding two records with strong evidence of being different people
(different birth dates, clearly different given names that are no nickname of each other, places
that never meet, different emails and numbers, or a forbidden link) is rebuilt by adding its edges
strongest first and refusing every edge that would join such a pair. A household sharing a phone
and an address stays several people; one family email does not make one person.

Weak links (names, perhaps a town: nothing identifying) come last and are judged per cluster
(join_weak): a source system seldom holds one person twice, so a weak link into a cluster that
already holds a record of the same system is evidence against it, and a cluster without one mild
evidence for. Both rates are learned from the data: how often confidently linked people repeat a
system, and how often another person's cluster of that size holds one of the systems (SystemRates,
learned with the model and kept with it)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from canonical.reconcile.compare import FIELDS, Comparator
from canonical.reconcile.features import Features

EMAIL, PHONE, GIVEN, FAMILY, BIRTH, PLACE = (FIELDS.index(name)
                                             for name in ("email", "phone", "given", "family", "birth", "place"))
EMAIL_DIFFERENT, PHONE_DIFFERENT, GIVEN_DIFFERENT, BIRTH_DIFFERENT, PLACE_DIFFERENT = 3, 2, 5, 3, 2
LARGEST_CHECKED = 2000  # all pairs of a bigger component would cost more than they prove


def conflicts(gamma: np.ndarray, chained: bool = False) -> np.ndarray:
    """Strong negative evidence per pair: different birth dates; clearly different given names;
    two places where neither record's group of contact-linked records has ever been seen at the
    other's; or both a different email address and a different number. The last two are how two
    namesakes get chained through a record that holds nothing but the name: one person seldom
    changes address and number, or email and number, between two systems.

    `chained`: the pair is already in one cluster of links that agree on identifiers (the guard).
    There a different email and number under the same full name is a person who changed both, as
    the records between them show; namesakes chained by a bare name come through weak links, which
    join_weak tests without this exception."""
    return ((gamma[:, GIVEN] == GIVEN_DIFFERENT) | (gamma[:, BIRTH] == BIRTH_DIFFERENT)
            | (gamma[:, PLACE] == PLACE_DIFFERENT)
            | ((gamma[:, EMAIL] == EMAIL_DIFFERENT) & (gamma[:, PHONE] == PHONE_DIFFERENT)
               & ~(chained & (gamma[:, GIVEN] >= 1) & (gamma[:, GIVEN] <= 2) & (gamma[:, FAMILY] == 1))))


def components(size: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A label per row: the smallest row of its connected component. Only rows on an edge take part,
    so that an incremental pass over a few edges stays cheap on a large table. Array rounds rather
    than a union-find in Python (a million links took seconds): every root is hung under the smallest
    root an edge offers it, then every row points straight at its root; until no edge spans two roots.
    A root only ever hangs under a smaller one, so the smallest row of a component stays its root."""
    labels = np.arange(size, dtype=np.int64)
    if len(a) == 0:
        return labels
    nodes, local = np.unique(np.r_[a, b].astype(np.int64), return_inverse=True)
    x, y = local[:len(a)], local[len(a):]
    parent = np.arange(len(nodes), dtype=np.int64)
    while True:
        px, py = parent[x], parent[y]
        apart = px != py
        if not apart.any():
            break
        x, y, px, py = x[apart], y[apart], px[apart], py[apart]  # joined edges never matter again
        np.minimum.at(parent, np.maximum(px, py), np.minimum(px, py))
        while True:
            above = parent[parent]
            if np.array_equal(above, parent):
                break
            parent = above
    labels[nodes] = nodes[parent]
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
    bad = conflicts(comparator.levels(x, y), chained=True) if len(x) else np.zeros(0, bool)
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


# --- weak links, judged per cluster ------------------------------------------------------------
LARGEST_SIZE = 4       # clusters of this size or more share one row of the "other people" table
MOST_SOURCES = 12      # a bitmask per cluster; with more systems than this the weak links go unadjusted
LARGEST_JOINED = 20_000  # a weak link never joins two clusters with more pairs between them than this


@dataclass
class SystemRates:
    """What join_weak weighs a weak link with: `repeat`, the chance that two parts of one person share
    a system, and `overlap`, overlap_table() with the systems numbered in the order of `sources`.
    They are learned in the pass that learns the model, over all its records, and kept with the
    model: an incremental pass looks only at the clusters its changes touch, which are no fair sample
    of all people, and rates learned there decided weak links near their bar otherwise than the full
    pass had (the demo's second run wrote again)."""

    sources: list[str]
    repeat: float
    overlap: list[list[float]]

    @classmethod
    def learn(cls, labels: np.ndarray, a: np.ndarray, b: np.ndarray, rows: np.ndarray, features: Features
              ) -> "SystemRates":
        """`labels`: the clusters of the strong links; (a, b): the confident links; `rows`: the
        records to learn from."""
        found = cls(sorted(source_column(features)[0]), 1.0, [])
        source = found.codes(features)
        systems = int(source.max(initial=0)) + 1
        if len(found.sources) <= MOST_SOURCES:
            found.repeat = repeat_rate(len(labels), a, b, rows, source)
        found.overlap = overlap_table(labels, rows, source, systems).tolist()
        return found

    def codes(self, features: Features) -> np.ndarray | None:
        """A small integer per row for its system; None if a row's system is not one of `sources`.
        With more systems than a bitmask holds, every row gets 0: all clusters then "share" one
        system, and with `repeat` 1 that is no evidence either way."""
        names, per_row = source_column(features)
        if len(self.sources) > MOST_SOURCES:
            return np.zeros(len(per_row), dtype=np.int64)
        number = {source: i for i, source in enumerate(self.sources)}
        found = np.array([number.get(name, -1) for name in names], dtype=np.int64)[per_row]
        return None if (found < 0).any() else found

    def as_dict(self) -> dict:
        return {"sources": self.sources, "repeat": self.repeat, "overlap": self.overlap}

    @classmethod
    def from_dict(cls, data: dict | None) -> "SystemRates | None":
        return None if data is None else cls(list(data["sources"]), float(data["repeat"]), data["overlap"])


def source_column(features: Features) -> tuple[list[str], np.ndarray]:
    """The systems the rows come from, in order of first appearance, and each row's index into them.
    Kept per frozen table: an incremental pass reads it again, and a loop over a million keys cost it
    a quarter of its time."""
    if "sources" not in features.derived:
        names: dict[str, int] = {}
        per_row = np.fromiter((names.setdefault(source, len(names)) for source, _ in features.keys),
                              dtype=np.int64, count=len(features.keys))
        features.derived["sources"] = (list(names), per_row)
    return features.derived["sources"]


def system_masks(labels: np.ndarray, rows: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per label: the bitmask of its rows' systems, and its size (rows only)."""
    mask = np.zeros(len(labels), dtype=np.int64)
    np.bitwise_or.at(mask, labels[rows], np.left_shift(1, source[rows]))
    return mask, np.bincount(labels[rows], minlength=len(labels))


def repeat_rate(size: int, a: np.ndarray, b: np.ndarray, rows: np.ndarray, source: np.ndarray) -> float:
    """How often one person's records (clusters of confident links) hold two records of one system:
    the chance that two parts of one person share a system."""
    labels = components(size, a, b)[rows]
    counts = np.bincount(labels, minlength=size)
    big = counts[labels] >= 2
    lab, cells = labels[big], np.unique(labels[big] * 64 + source[rows][big])
    distinct = np.bincount(cells // 64, minlength=size)
    clusters = np.unique(lab)
    repeated = np.count_nonzero(counts[clusters] > distinct[clusters])
    return float((repeated + 0.5) / (len(clusters) + 1))


def overlap_table(labels: np.ndarray, rows: np.ndarray, source: np.ndarray, systems: int) -> np.ndarray:
    """(LARGEST_SIZE + 1) x 2**systems: the share of clusters of each size whose systems meet a mask,
    i.e. how often another person's cluster holds a record of one of those systems."""
    mask, sizes = system_masks(labels, rows, source)
    roots = np.unique(labels[rows])
    width = 1 << systems
    table = np.zeros((LARGEST_SIZE + 1, width))
    every = np.arange(width)
    meets = (every[:, None] & every[None, :]) != 0  # query mask x cluster mask
    for k in range(1, LARGEST_SIZE + 1):
        chosen = roots[(np.minimum(sizes[roots], LARGEST_SIZE) == k)]
        counts = np.bincount(mask[chosen], minlength=width).astype(np.float64)
        if counts.sum() == 0:
            table[k] = 0.5
            continue
        table[k] = (meets @ counts + 0.5) / (counts.sum() + 1)
    return table


def join_weak(labels: np.ndarray, a: np.ndarray, b: np.ndarray, weight: np.ndarray, comparator: Comparator,
              source: np.ndarray, rates: SystemRates, rows: np.ndarray, bar: np.ndarray, lifts: np.ndarray,
              forbidden: set[tuple[int, int]] = frozenset(), concord: np.ndarray | None = None) -> np.ndarray:
    """Adds weak links (strongest first) between clusters when their weight, adjusted by what the two
    clusters' systems say, reaches its `bar` (log2 odds) and no member of one is a cannot-link of the
    other. The adjustment is a likelihood ratio: one person's two parts share a system with the
    chance `rates.repeat`; two people's clusters (of those sizes) with the chance `rates.overlap` gives.
    `source`: rates.codes() of the rows.

    `concord`: the Concord customer id each row carries (-1: none). A weak link never joins two
    clusters that carry only different ones. Those ids are Concord's own earlier decision that these
    are two customers, and once it has synced, the names a weak link rests on are often names it
    wrote itself (a nameless record takes its customer's golden name): agreement its own writes
    made, not new evidence. An identifier or a rule still joins them."""
    if len(a) == 0:
        return labels
    table, repeat = rates.overlap, rates.repeat
    strongest = np.argsort(-weight, kind="stable").tolist()
    weight, bar = weight.tolist(), bar.tolist()
    mask, sizes = system_masks(labels, rows, source)
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(len(labels) + 1))
    members: dict[int, list[int]] = {}
    owner = labels.copy()
    enemies: dict[int, set[int]] = {}
    for x, y in forbidden:
        enemies.setdefault(x, set()).add(y)
        enemies.setdefault(y, set()).add(x)
    for i in strongest:
        x, y = int(a[i]), int(b[i])
        gx, gy = _root(owner, x), _root(owner, y)
        if gx == gy:
            continue
        mx, my, kx, ky = int(mask[gx]), int(mask[gy]), int(sizes[gx]), int(sizes[gy])
        chance = math.sqrt(table[min(ky, LARGEST_SIZE)][mx] * table[min(kx, LARGEST_SIZE)][my])
        chance = min(max(chance, 1e-3), 1 - 1e-3)
        factor = min(repeat / chance, 1.0) if mx & my else ((1 - repeat) / (1 - chance) if lifts[i] else 1.0)
        if weight[i] + math.log2(factor) < bar[i] or kx * ky > LARGEST_JOINED:
            continue
        left, right = members.get(gx), members.get(gy)
        left = order[starts[gx]:starts[gx + 1]].tolist() if left is None else left
        right = order[starts[gy]:starts[gy + 1]].tolist() if right is None else right
        p, q = np.repeat(left, len(right)), np.tile(right, len(left))
        if conflicts(comparator.levels(np.asarray(p), np.asarray(q))).any() or any(
                enemies.get(r, set()) & set(right) for r in left) or _told_apart(concord, left, right):
            continue
        keep, drop = min(gx, gy), max(gx, gy)
        owner[drop] = keep
        members[keep] = left + right
        members.pop(drop, None)
        mask[keep] = mx | my
        sizes[keep] = kx + ky
    found = owner[labels]
    while True:
        higher = owner[found]
        if np.array_equal(higher, found):
            return found
        found = higher


def _told_apart(concord: np.ndarray | None, left: list[int], right: list[int]) -> bool:
    """Whether both sides carry Concord customer ids and share none."""
    if concord is None:
        return False
    mine, theirs = set(concord[left].tolist()) - {-1}, set(concord[right].tolist()) - {-1}
    return bool(mine) and bool(theirs) and not mine & theirs


def _root(owner: np.ndarray, x: int) -> int:
    """The current cluster of a row (owner: a parent per row, a root is its own parent)."""
    while owner[x] != x:
        x = int(owner[x])
    return x
