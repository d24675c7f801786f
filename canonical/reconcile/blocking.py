"""Blocking: which pairs of records are compared at all. Every record gets several keys (email,
email head and tail, phone, nickname-root + family name, nickname-root + family name + place, family
name + postcode, postcode + house number, birth date + given root, birth date + family name, a
carried Concord id); records sharing a key meet. A block over the cap is skipped for that key and
logged, so that households and common names never explode into millions of pairs: the other keys
still bring their true pairs together (a common name's block, split by place, often fits)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from canonical.reconcile import nicknames, places
from canonical.reconcile.features import Features, common_values, name_columns

log = logging.getLogger(__name__)
DEFAULT_CAP = 100
# Weaker keys get smaller caps: a typo's block is small, a common prefix's is not worth comparing;
# a common name's block holds strangers whom a shared name alone could never link anyway.
KIND_CAPS = {"email_parts": 20, "name": 30, "name_place": 30}
PLACE_SLOTS = 2  # a record's first two places: where it lives, and where it lived or its number is from


@dataclass
class BlockStats:
    pairs_by_key: dict[str, int] = field(default_factory=dict)
    skipped_by_key: dict[str, int] = field(default_factory=dict)


def root_columns(features: Features) -> list[np.ndarray]:
    """Up to three nickname-root ids per row (-1 where none), in a vocabulary of their own. A rare
    name may be a slip ('Douglaas', 'Vcky'): after its own root it takes the roots of the names one
    slip away, so that it meets them in the name blocks too. Kept per frozen table: the clustering
    reads them again."""
    if "roots" in features.derived:
        return features.derived["roots"]
    vocab: dict[str, int] = {}
    values = features.vocab["given"].values
    slips = _slip_roots(values, common_values(features.vocab["given"]))
    per_given = [(sorted(nicknames.roots(g)) + sorted(slips.get(g, frozenset()) - nicknames.roots(g)))[:3]
                 for g in values]
    table = np.full((len(per_given) + 1, 3), -1, dtype=np.int64)  # the extra last row serves missing (-1)
    for gid, found in enumerate(per_given):
        for slot, root in enumerate(found):
            table[gid, slot] = vocab.setdefault(root, len(vocab))
    given = name_columns(features)[0]
    features.derived["roots"] = [table[given, slot] for slot in range(3)]
    return features.derived["roots"]


def _slip_roots(values: list[str], common: frozenset[str]) -> dict[str, frozenset[str]]:
    """Per rare given name (three letters or more), the roots of the common names and of the short
    forms one slip away from it. Common names are names, not slips ('Donald' never meets 'Ronald' here)."""
    rare = [v for v in values if v not in common and len(v) >= 3]
    known = sorted(common)
    if not rare:
        return {}
    near = process.cdist(rare, known, scorer=OSA.distance, score_cutoff=1, dtype=np.int32) if known else None
    found = {}
    for i, name in enumerate(rare):
        roots = set(nicknames.slip_roots(name))
        if near is not None:
            for j in np.flatnonzero(near[i] <= 1):
                roots |= nicknames.roots(known[j])
        if roots:
            found[name] = frozenset(roots)
    return found


def email_part_columns(features: Features, width: int = 5) -> list[np.ndarray]:
    """Two weaker email keys per row: domain + the first `width` letters of the local part, and
    domain + its last `width`. A slip of one letter leaves one of them intact, so a duplicate
    account typed with a typo still meets its original."""
    values = features.vocab["email1"].values
    tables = [np.full(len(values) + 1, -1, dtype=np.int64) for _ in range(2)]  # last entry serves missing
    ids: dict[str, int] = {}
    for vid, address in enumerate(values):
        local, _, domain = address.rpartition("@")
        if len(local) > width:
            tables[0][vid] = ids.setdefault(f"{domain}<{local[:width]}", len(ids))
            tables[1][vid] = ids.setdefault(f"{domain}>{local[-width:]}", len(ids))
    email = features.column("email1")
    return [table[email] for table in tables]


def _combine(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One int64 code per row for a two-part key; -1 where either part is missing."""
    code = x.astype(np.int64) * (1 << 31) + y.astype(np.int64)
    code[(x < 0) | (y < 0)] = -1
    return code


def _with_place(name: np.ndarray, place: np.ndarray) -> np.ndarray:
    """A name key narrowed to one place: a common name's block, too big to pair whole, splits into
    blocks of the people of one town."""
    known = (name >= 0) & (place >= 0)
    code = np.full(len(name), -1, dtype=np.int64)
    if known.any():
        _, compact = np.unique(name[known], return_inverse=True)  # small ids, so that the product fits
        code[known] = compact.astype(np.int64) * (1 << 31) + place[known]
    return code


def key_codes(features: Features) -> dict[str, list[np.ndarray]]:
    """Per key kind, one or more code arrays aligned with the rows (-1: no key)."""
    col = features.column
    roots = root_columns(features)
    family = name_columns(features)[1]
    where = places.place_columns(features)
    return {
        "email": [col("email1").astype(np.int64), col("email2").astype(np.int64)],
        "phone": [col("phone1").astype(np.int64), col("phone2").astype(np.int64)],
        "email_parts": email_part_columns(features),
        "name": [_combine(r, family) for r in roots],
        "name_place": [_with_place(_combine(r, family), where[:, slot]) for r in roots
                       for slot in range(PLACE_SLOTS)],
        "family_postcode": [_combine(family, col("postcode"))],
        "address": [_combine(col("postcode"), col("house"))],
        "birth_given": [_combine(col("birth"), roots[0])],
        "birth_family": [_combine(col("birth"), family)],
        "concord": [col("concord").astype(np.int64)],
    }


def _pairs_in_blocks(codes: np.ndarray, rows: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray, int]:
    """All pairs within each run of equal (sorted) codes of size 2..cap; also the number of
    skipped blocks."""
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    sizes = np.diff(np.r_[starts, len(codes)])
    skipped = int(np.sum(sizes > cap))
    left, right = [], []
    for size in np.unique(sizes[(sizes >= 2) & (sizes <= cap)]):
        first = starts[sizes == size][:, None]
        i, j = np.triu_indices(int(size), 1)
        left.append(rows[first + i].ravel())
        right.append(rows[first + j].ravel())
    if not left:
        return np.empty(0, np.int32), np.empty(0, np.int32), skipped
    return np.concatenate(left), np.concatenate(right), skipped


def _pairs_touching(codes: np.ndarray, rows: np.ndarray, touching: np.ndarray, cap: int
                    ) -> tuple[np.ndarray, np.ndarray, int]:
    """_pairs_in_blocks, but only the pairs with a `touching` row on one side: each such entry with
    every entry of its block. A changed record's blocks are mostly other people's (a common name),
    and pairing them all only to drop the pairs without it was most of an incremental pass's blocking."""
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    sizes = np.diff(np.r_[starts, len(codes)])
    skipped = int(np.sum(sizes > cap))
    block = np.repeat(np.arange(len(starts)), sizes)
    mine = np.flatnonzero(touching[rows] & ((sizes >= 2) & (sizes <= cap))[block])
    counts = sizes[block[mine]]
    within_block = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    left = np.repeat(rows[mine], counts)
    right = rows[np.repeat(starts[block[mine]], counts) + within_block]
    keep = left != right
    return left[keep], right[keep], skipped


def _index(features: Features) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per key kind, all (code, row) entries sorted by code: built once per table, like a database
    index, so that an incremental pass finds a changed record's blocks by binary search."""
    if "index" not in features.derived:
        n, index = len(features), {}
        for kind, arrays in key_codes(features).items():
            codes = np.concatenate(arrays)
            present = np.flatnonzero(codes >= 0)  # rows without the key never meet under it
            order = present[np.argsort(codes[present], kind="stable")]
            index[kind] = (codes[order], (order % n).astype(np.int32))
        features.derived["index"] = index
    return features.derived["index"]


def _entries(codes: np.ndarray, rows: np.ndarray, within, touching) -> tuple[np.ndarray, np.ndarray]:
    """The sorted entries that take part: keys present, rows `within`, blocks `touching` rows hold."""
    if touching is not None:
        wanted = np.unique(codes[touching[rows] & (codes >= 0)])
        lo, hi = np.searchsorted(codes, wanted, "left"), np.searchsorted(codes, wanted, "right")
        lengths = hi - lo
        # every position lo..hi-1 of every wanted block, without a Python loop over the blocks
        picked = np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
        codes, rows = codes[picked], rows[picked]
    keep = codes >= 0
    if within is not None:
        keep &= within[rows]
    return codes[keep], rows[keep]


def _distinct(codes: np.ndarray) -> np.ndarray:
    """Sorted distinct values; a plain sort is several times faster here than np.unique's hashing."""
    codes.sort()
    return codes[np.r_[True, codes[1:] != codes[:-1]]] if len(codes) else codes


def candidate_pairs(features: Features, cap: int = DEFAULT_CAP, within: np.ndarray | None = None,
                    touching: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, BlockStats]:
    """Distinct pairs (a < b) sharing any key. `within`: a row mask both sides must be in;
    `touching`: a row mask at least one side must be in (the incremental neighbourhood)."""
    stats, found = BlockStats(), []
    n = len(features)
    for kind, (codes, rows) in _index(features).items():
        entries, kind_cap = _entries(codes, rows, within, touching), min(cap, KIND_CAPS.get(kind, cap))
        a, b, skipped = (_pairs_in_blocks(*entries, kind_cap) if touching is None
                         else _pairs_touching(*entries, touching, kind_cap))
        if skipped:
            log.info("blocking: %d %s blocks over the cap of %d records skipped", skipped, kind, cap)
        stats.skipped_by_key[kind] = skipped
        stats.pairs_by_key[kind] = len(a)
        found.append(_distinct(np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b)))
        del a, b
    codes = _distinct(np.concatenate(found))
    del found
    a, b = (codes // n).astype(np.int32), (codes % n).astype(np.int32)  # half the memory of int64
    keep = a != b
    if touching is not None:
        keep &= touching[a] | touching[b]
    return a[keep], b[keep], stats
