"""Comparison levels of record pairs, field by field, computed on id arrays. Level 0 is always
"one side does not know" (no evidence either way); level 1 the strongest agreement; the last level
"different". Fuzzy levels compare the strings behind the ids once per distinct pair of values."""
from __future__ import annotations

import numpy as np
import re

from rapidfuzz.distance import OSA, JaroWinkler

from canonical.reconcile import nicknames, places
from canonical.reconcile.features import Features, common_values, name_columns

# field -> names of its levels, in order from level 1
LEVELS = {
    "email": ("exact", "similar", "different"),
    "phone": ("exact", "different"),
    "given": ("exact", "nickname", "similar", "weak", "different"),
    "family": ("exact", "similar", "different"),
    "birth": ("exact", "close", "different"),
    "address": ("same_line", "same_house", "same_postcode", "different"),
    # where the records place their person (places.py): only when the addresses cannot tell
    "place": ("same", "different"),
}
FIELDS = tuple(LEVELS)
SIMILAR, WEAK = 0.88, 0.70


class Comparator:
    """Computes levels for arrays of pairs; remembers fuzzy scores of value pairs between calls."""

    def __init__(self, features: Features):
        self.features = features
        self._cache: dict[str, dict[int, int]] = {name: {} for name in ("email1", "given", "family", "birth")}

    def levels(self, a: np.ndarray, b: np.ndarray, chunk: int = 1 << 21) -> np.ndarray:
        """A (pairs x fields) int8 matrix of levels, columns in FIELDS order. Chunked, so that the
        temporary arrays of 16M pairs never exist at once."""
        out = np.zeros((len(a), len(FIELDS)), dtype=np.int8)
        for start in range(0, len(a), chunk):
            part_a, part_b = a[start:start + chunk], b[start:start + chunk]
            for index, name in enumerate(FIELDS):
                out[start:start + chunk, index] = getattr(self, f"_{name}")(part_a, part_b)
        return out

    def _pair_levels(self, column: str, a, b, exact_level: int, scorer, screen=None, unlike: int = 0) -> np.ndarray:
        """Level 0 missing, exact_level when equal, else scorer(value_a, value_b) per distinct pair.
        `screen(x, y)`: the pairs of ids the scorer could place above `unlike`, its last level; the
        others get `unlike` without their strings being read."""
        values = self._column(column)
        x, y = values[a], values[b]
        out = np.zeros(len(a), dtype=np.int8)
        out[(x >= 0) & (x == y)] = exact_level
        other = (x >= 0) & (y >= 0) & (x != y)
        if screen is not None and other.any():
            out[other] = unlike
            other &= screen(x, y)
        if other.any():
            out[other] = self._fuzzy(column, x[other], y[other], scorer)
        return out

    def _column(self, column: str) -> np.ndarray:
        """Names as comparison sees them (a nameless record's come from its email address)."""
        if column in ("given", "family"):
            return name_columns(self.features)[column == "family"]
        return self.features.column(column)

    def _fuzzy(self, column: str, x: np.ndarray, y: np.ndarray, scorer) -> np.ndarray:
        codes = np.minimum(x, y).astype(np.int64) * (1 << 31) + np.maximum(x, y)
        unique, inverse = np.unique(codes, return_inverse=True)
        cache, values = self._cache[column], self.features.vocab[column].values
        found = np.empty(len(unique), dtype=np.int8)
        for i, code in enumerate(unique.tolist()):
            level = cache.get(code)
            if level is None:
                level = cache[code] = scorer(values[code >> 31], values[code & ((1 << 31) - 1)])
            found[i] = level
        return found[inverse]

    def _email(self, a, b) -> np.ndarray:
        col = self.features.column
        e1a, e2a, e1b, e2b = col("email1")[a], col("email2")[a], col("email1")[b], col("email2")[b]
        out = self._pair_levels("email1", a, b, 1, _email_level, self._could_slip, unlike=3)
        similar = np.flatnonzero(out == 2)
        if len(similar):
            out[similar[self._names_explain(a[similar], b[similar])]] = 3
        out[(e1a >= 0) & ((e1a == e2b) | ((e2a >= 0) & ((e2a == e1b) | (e2a == e2b))))] = 1
        return out

    def _could_slip(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Address pairs _email_level could call one slip apart. Most pairs hold two unrelated
        addresses, and reading each pair's strings was most of the time comparison took."""
        shape, length = self._email_shapes()
        return (shape[x] == shape[y]) & (np.abs(length[x] - length[y]) <= 1)

    def _email_shapes(self) -> tuple[np.ndarray, np.ndarray]:
        """Per address id: an id of its domain with the non-letters of its local part, and the local
        part's length. _email_level finds a slip only where the first agree and the lengths differ by
        one at most (one letter dropped, doubled, changed or swapped)."""
        if "email_shapes" not in self.features.derived:
            kinds: dict[tuple[str, str], int] = {}
            shape, length = [], []
            for value in self.features.vocab["email1"].values:
                local, _, domain = value.rpartition("@")
                shape.append(kinds.setdefault((domain, _LETTERS.sub("", local)), len(kinds)))
                length.append(len(local))
            self.features.derived["email_shapes"] = (np.array(shape, dtype=np.int32), np.array(length, dtype=np.int32))
        return self.features.derived["email_shapes"]

    def _names_explain(self, a, b) -> np.ndarray:
        """Addresses one letter apart are often two people whose names are (fturner / sturner for
        Fatima and Sofia Turner, muller / miller): a slip only when the names do not differ, or
        differ without each spelling its own address."""
        given = self._given(a, b)
        explained = given >= 4
        family = self._column("family")
        differ = np.flatnonzero(~explained & (family[a] >= 0) & (family[b] >= 0) & (family[a] != family[b]))
        if len(differ):
            explained[differ] = [self._spelled(x, y) for x, y in zip(a[differ].tolist(), b[differ].tolist())]
        return explained

    def _spelled(self, x: int, y: int) -> bool:
        values, emails = self.features.vocab["family"].values, self.features.vocab["email1"].values
        family, email = self._column("family"), self.features.column("email1")
        return all(values[family[r]].replace(" ", "") in emails[email[r]].split("@")[0] for r in (x, y))

    def _phone(self, a, b) -> np.ndarray:
        col = self.features.column
        p1a, p2a, p1b, p2b = col("phone1")[a], col("phone2")[a], col("phone1")[b], col("phone2")[b]
        out = np.where((p1a >= 0) & (p1b >= 0), 2, 0).astype(np.int8)
        out[(p1a >= 0) & ((p1a == p1b) | (p1a == p2b) | ((p2a >= 0) & ((p2a == p1b) | (p2a == p2b))))] = 1
        return out

    def _common(self, column: str) -> frozenset[str]:
        """Values held by many records: real names. Two of them a letter apart ('Donald', 'Ronald';
        'Muller', 'Miller') are two names, not a slip; a slip is rare by nature. Kept per frozen table:
        the clustering compares a few pairs at a time, many thousand times."""
        key = f"common_{column}"
        if key not in self.features.derived:
            self.features.derived[key] = common_values(self.features.vocab[column])
        return self.features.derived[key]

    def _given(self, a, b) -> np.ndarray:
        common = self._common("given")
        return self._pair_levels("given", a, b, 1, lambda x, y: _given_level(x, y, common))

    def _family(self, a, b) -> np.ndarray:
        common = self._common("family")
        return self._pair_levels("family", a, b, 1, lambda x, y: _family_level(x, y, common))

    def _birth(self, a, b) -> np.ndarray:
        return self._pair_levels("birth", a, b, 1, _birth_level)

    def _address(self, a, b) -> np.ndarray:
        col = self.features.column
        pa, pb = col("postcode")[a], col("postcode")[b]
        known = (pa >= 0) & (pb >= 0)
        out = np.where(known, 4, 0).astype(np.int8)
        same = known & (pa == pb)
        out[same] = 3
        ha, hb, la, lb = col("house")[a], col("house")[b], col("line1")[a], col("line1")[b]
        out[same & (ha >= 0) & (ha == hb)] = 2
        out[same & (la >= 0) & (la == lb)] = 1
        return out

    def _place(self, a, b) -> np.ndarray:
        """Same or different place, counted only where it is new evidence: not when both records
        hold a postcode (the address level already says it), nor when they share an email address
        or a number (their places then come from the same group of records)."""
        where = places.place_columns(self.features)
        pa, pb = where[a], where[b]
        out = np.where((pa[:, 0] >= 0) & (pb[:, 0] >= 0), 2, 0).astype(np.int8)
        same = np.zeros(len(a), dtype=bool)
        for i in range(pa.shape[1]):
            for j in range(pb.shape[1]):
                same |= (pa[:, i] >= 0) & (pa[:, i] == pb[:, j])
        out[same & (out > 0)] = 1
        col = self.features.column
        post = col("postcode")
        out[(post[a] >= 0) & (post[b] >= 0)] = 0
        for name in ("email", "phone"):
            first, second = col(f"{name}1"), col(f"{name}2")
            for x in (first[a], second[a]):
                out[(x >= 0) & ((x == first[b]) | (x == second[b]))] = 0
        return out


_LETTERS = re.compile(r"[a-z]")


def _email_level(x: str, y: str) -> int:
    """Similar: one slip of a letter (dropped, doubled, swapped) at the same domain. Local parts are
    made of names, so 'ana.lima' and 'analima' or 'ana.lima7' are other people, not typos."""
    (lx, dx), (ly, dy) = x.rsplit("@", 1), y.rsplit("@", 1)
    if dx != dy or _LETTERS.sub("", lx) != _LETTERS.sub("", ly):
        return 3
    return 2 if OSA.distance(lx, ly) == 1 else 3


def _given_level(x: str, y: str, common: frozenset[str]) -> int:
    if nicknames.same_person_name(x, y):
        return 2
    score = JaroWinkler.similarity(x, y)
    slip = score >= SIMILAR or (min(len(x), len(y)) >= 2 and OSA.distance(x, y) == 1)  # 'Mei' / 'Mie'
    if slip and not (x in common and y in common):
        return 3
    if _slipped_short_form(x, y, common) or _slipped_short_form(y, x, common):
        return 3
    if score >= WEAK or (min(len(x), len(y)) == 1 and x[0] == y[0]):  # an initial is no contradiction
        return 4
    return 5


def _slipped_short_form(x: str, y: str, common: frozenset[str]) -> bool:
    """'Vcky' for Victoria, 'Hakn' for Henry: x is a slip of a name that y may be short for (or of
    y's own short form). Only a rare x counts: a name many records hold is a name, not a slip."""
    return x not in common and not nicknames.slip_roots(x).isdisjoint(nicknames.roots(y))


def _family_level(x: str, y: str, common: frozenset[str]) -> int:
    # one slip in a short name ('Li' / 'Lii', 'Kim' / 'Kmi') leaves Jaro-Winkler low: as for given names
    slip = JaroWinkler.similarity(x, y) >= SIMILAR or (min(len(x), len(y)) >= 2 and OSA.distance(x, y) == 1)
    return 2 if slip and not (x in common and y in common) else 3


def _birth_level(x: str, y: str) -> int:
    """Close: one of year, month, day differs, or day and month swapped; else different."""
    (yx, mx, dx), (yy, my, dy) = x.split("-"), y.split("-")
    if (yx, mx, dx) == (yy, dy, my) or sum(p != q for p, q in ((yx, yy), (mx, my), (dx, dy))) == 1:
        return 2
    return 3
