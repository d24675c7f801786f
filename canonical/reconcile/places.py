"""Where a record's person lives, as far as the records tell: the postcode of an address, or the
area a phone number was issued in. Two records with the same name are far likelier to be one
person when they are in one place, and far less when they are in two; many records carry no address
but a phone, so the phone's area stands in for it.

Nothing here is a table of the world's area codes: which postcode an area's numbers go with is
learned from the records that hold both (an area counts only when most of its numbers sit at one
postcode), so the comparison degrades to "unknown" where numbers say little about places (mobile
numbers, areas spanning many postcodes). A record also knows the places of the records it shares an
exact email address or phone number with (a household shares its landline and its address, so this
never moves anyone to a place they are not in)."""
from __future__ import annotations

import numpy as np
import phonenumbers

from canonical.reconcile.features import Features

SLOTS = 3                 # places kept per record, the most attested first
NANP_AREA = 3             # North American numbers: the three-digit area code is a place
NATIONAL_AREA = 2         # elsewhere: the first national digits, a coarser but honest guess
SUPPORT, MAJORITY = 5, 0.5
CONTACT_CAP = 8           # a number or address held by more records than a household has links strangers
_CALLING_CODES = frozenset(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def phone_area(e164: str) -> str | None:
    """'+14155550100' -> '+1415'; '+442071234567' -> '+44 20'. None when no calling code fits."""
    digits = e164[1:]
    for width in (1, 2, 3):
        code = digits[:width]
        if code in _CALLING_CODES:
            rest = digits[width:]
            area = NANP_AREA if code == "1" else NATIONAL_AREA
            return f"+{code} {rest[:area]}" if len(rest) > area else None
    return None


def _area_postcodes(features: Features) -> np.ndarray:
    """Per phone value id, the postcode id its area goes with (-1: none learned), plus a last -1
    entry that serves missing phones."""
    col = features.column
    values = features.vocab["phone1"].values
    area_ids: dict[str, int] = {}
    area_of = np.array([area_ids.setdefault(a, len(area_ids)) if (a := phone_area(v)) else -1 for v in values]
                       + [-1], dtype=np.int64)
    postcode = col("postcode").astype(np.int64)
    areas = np.concatenate([area_of[col("phone1")], area_of[col("phone2")]])
    posts = np.concatenate([postcode, postcode])
    both = (areas >= 0) & (posts >= 0)
    mapped = np.full(len(area_ids) + 1, -1, dtype=np.int64)
    if both.any():
        pairs, counts = np.unique(areas[both] * (1 << 31) + posts[both], return_counts=True)
        area, post = pairs >> 31, pairs & ((1 << 31) - 1)
        totals = np.bincount(area, weights=counts, minlength=len(area_ids))
        order = np.lexsort((-counts, area))  # per area, its most frequent postcode first
        first = order[np.r_[True, area[order][1:] != area[order][:-1]]]
        good = (counts[first] >= SUPPORT) & (counts[first] > MAJORITY * totals[area[first]])
        mapped[area[first][good]] = post[first][good]
    return mapped[area_of]


def _contact_groups(features: Features) -> np.ndarray:
    """A group label per row: rows joined by an exact email address or phone number that at most
    CONTACT_CAP records hold."""
    from canonical.reconcile.cluster import components

    col, n = features.column, len(features)
    left, right = [], []
    for pair, offset in ((("email1", "email2"), 0), (("phone1", "phone2"), 1 << 31)):
        values = np.concatenate([col(name).astype(np.int64) for name in pair])
        rows = np.tile(np.arange(n, dtype=np.int64), len(pair))
        keep = values >= 0
        values, rows = values[keep] + offset, rows[keep]
        order = np.argsort(values, kind="stable")
        values, rows = values[order], rows[order]
        starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
        sizes = np.diff(np.r_[starts, len(values)])
        block = np.repeat(sizes, sizes)
        follows = np.flatnonzero((values[1:] == values[:-1]) & (block[1:] <= CONTACT_CAP))
        left.append(rows[follows])
        right.append(rows[follows + 1])
    a, b = np.concatenate(left), np.concatenate(right)
    keep = a != b
    return components(n, a[keep], b[keep])


def place_columns(features: Features) -> np.ndarray:
    """(rows x SLOTS) postcode ids, -1 where none: the places a row's group of contact-linked
    records is seen at, the most attested first. Cached per frozen table."""
    if "places" in features.derived:
        return features.derived["places"]
    n = len(features)
    phone_post = _area_postcodes(features)
    col = features.column
    own = np.stack([col("postcode").astype(np.int64), phone_post[col("phone1")], phone_post[col("phone2")]], axis=1)
    group = _contact_groups(features)
    rows = np.repeat(np.arange(n), own.shape[1])
    place = own.ravel()
    keep = place >= 0
    codes, counts = np.unique(group[rows[keep]] * (1 << 31) + place[keep], return_counts=True)
    label, post = codes >> 31, codes & ((1 << 31) - 1)
    order = np.lexsort((post, -counts, label))
    label, post = label[order], post[order]
    rank = np.arange(len(label)) - np.searchsorted(label, label, "left")
    table = np.full((n, SLOTS), -1, dtype=np.int32)  # indexed by group label (a row number)
    top = rank < SLOTS
    table[label[top], rank[top]] = post[top]
    features.derived["places"] = table[group]
    return features.derived["places"]
