"""The comparison features of source records, held column-wise: every normalized value is interned
to an integer id per column (-1 when missing), so that blocking and comparison run on arrays rather
than on millions of dicts. Rows are appended once and never change; a changed record is a new row."""
from __future__ import annotations

import hashlib
import re
from array import array
from pathlib import Path

import numpy as np
import phonenumbers

from canonical.reconcile import normalize

Key = tuple[str, str]  # (source, source_id)
COLUMNS = ("email1", "email2", "phone1", "phone2", "given", "family", "birth", "postcode", "house", "line1",
           "concord")


class Vocab:
    """Value <-> id for one column, with how many rows hold each value (for term frequencies)."""

    def __init__(self):
        self.ids: dict[str, int] = {}
        self.values: list[str] = []
        self.counts = array("l")

    def id(self, value: str | None) -> int:
        if not value:
            return -1
        found = self.ids.get(value)
        if found is None:
            found = self.ids[value] = len(self.values)
            self.values.append(value)
            self.counts.append(0)
        self.counts[found] += 1
        return found

    def ids_of(self, values: list) -> list[int]:
        """id() of each value, in one pass."""
        ids, found = self.ids, []
        for value in values:
            if not value:
                found.append(-1)
                continue
            vid = ids.get(value)
            if vid is None:
                vid = ids[value] = len(self.values)
                self.values.append(value)
                self.counts.append(0)
            self.counts[vid] += 1
            found.append(vid)
        return found


class Features:
    """Rows of interned features plus each row's (source, source_id) and external-id claims."""

    def __init__(self):
        self.keys: list[Key] = []
        self.vocab = {name: Vocab() for name in COLUMNS}
        # the two email (and phone) slots share one vocabulary, so that ids compare across slots
        self.vocab["email2"], self.vocab["phone2"] = self.vocab["email1"], self.vocab["phone1"]
        self._rows = {name: array("i") for name in COLUMNS}  # 4 bytes a value: a million rows stay small
        self.claims: list[tuple[str, ...]] = []  # "system:id" of other systems' records this one names
        self.arrays: dict[str, np.ndarray] = {}
        self.derived: dict[str, object] = {}  # arrays computed from the columns (blocking keys), per freeze

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, record: dict) -> int:
        """Appends one canonical source record; returns its row."""
        return self.add_stored((record["source"], str(record["source_id"])), stored(record))

    def extend_stored(self, keys: list[Key], rows: list[list]) -> None:
        """add_stored for many rows, a column at a time (a plan appends every record of the store)."""
        for j, name in enumerate(COLUMNS):
            self._rows[name].extend(self.vocab[name].ids_of([row[j] for row in rows]))
        self.keys.extend(keys)
        self.claims.extend(tuple(row[len(COLUMNS)]) for row in rows)

    def add_stored(self, key: Key, row: list) -> int:
        """Appends one record's features as stored(): the store keeps them, so that a reconcile need
        not normalize every record again."""
        for name, value in zip(COLUMNS, row):
            self._rows[name].append(self.vocab[name].id(value))
        self.keys.append(key)
        self.claims.append(tuple(row[len(COLUMNS)]))
        return len(self.keys) - 1

    def freeze(self) -> "Features":
        """Turns the appended rows into arrays (call again after more rows were added)."""
        self.arrays = {name: np.frombuffer(rows, dtype=np.int32).copy() for name, rows in self._rows.items()}
        self.derived = {}
        return self

    def column(self, name: str) -> np.ndarray:
        return self.arrays[name]


def _version() -> str:
    """What stored features were computed with: the code of this module, of normalize and of the
    nickname table, and the phone metadata's release. Rows stored under another version are computed
    again, so an upgrade never mixes old and new normalizations in one table."""
    here = Path(__file__).parent
    found = hashlib.sha256(phonenumbers.__version__.encode())
    for name in ("features.py", "normalize.py", "nicknames.py"):
        found.update((here / name).read_bytes())
    return found.hexdigest()[:12]


VERSION = _version()


def stored(record: dict) -> list:
    """A record's features as the store keeps them (JSON): the column values in COLUMNS order, then
    the external-id claims."""
    values = extract(record)
    return [values[name] for name in COLUMNS] + [list(values["claims"])]


def stamp(content_hash: str) -> str:
    """Which record content, under which VERSION, stored features were computed from."""
    return f"{VERSION}:{content_hash}"


def extract(record: dict) -> dict:
    """The normalized values of one record, by column name."""
    emails = [e for e in map(normalize.email_for_matching, record.get("emails") or []) if e][:2]
    phones = [p for p in map(normalize.phone, record.get("phones") or []) if p][:2]
    given, family = normalize.names(record)
    address = record.get("address") or {}
    line1 = normalize.street_line(address.get("line1")) if address else ""
    external = record.get("external_ids") or {}
    return {
        "email1": emails[0] if emails else None, "email2": emails[1] if len(emails) > 1 else None,
        "phone1": phones[0] if phones else None, "phone2": phones[1] if len(phones) > 1 else None,
        "given": normalize.given_core(given), "family": family.replace("-", " "),
        "birth": normalize.birth_date(record.get("birth_date")),
        "postcode": normalize.postcode(address.get("postcode"), address.get("country")) if address else None,
        "house": normalize.house_number(line1) if line1 else None, "line1": line1,
        "concord": external.get("concord"),
        "claims": tuple(f"{system}:{value}" for system, value in sorted(external.items())
                        if value and system != "concord"),
    }


# A name counts as a real name, not a possible slip, when at least COMMON records and a tenth as many
# records as hold a typical name hold it.
COMMON, COMMON_SHARE = 3, 0.1
_LOCAL_NOISE = re.compile(r"\d+|\+.*$")
_LOCAL_SPLIT = re.compile(r"[._\-]+")


def common_values(vocab: Vocab) -> frozenset[str]:
    """Values held by many records: real names, not slips (a slip is rare by nature)."""
    counts = np.asarray(vocab.counts, dtype=np.int64)
    if not len(counts):
        return frozenset()
    ordered = np.sort(counts)
    typical = ordered[np.searchsorted(np.cumsum(ordered), ordered.sum() / 2)]  # the count a typical record's value has
    floor = max(COMMON, COMMON_SHARE * typical)
    return frozenset(v for v, count in zip(vocab.values, counts.tolist()) if count >= floor)


def name_columns(features: Features) -> tuple[np.ndarray, np.ndarray]:
    """The given and family name ids that comparison and blocking see: a record's own names, or, for a
    record with no name at all, the names its email address spells ('ahmed.bakker@', 'bakker_ahmed@',
    'ahmedbakker7@'; 'ahmed1984@' the given name only). Only real names (common_values) are read out
    of an address; the stored record keeps no such name. A family name alone ('abakker@') is not
    read: measured on generated worlds it linked more strangers than it found people."""
    if "names" not in features.derived:
        given, family = features.column("given"), features.column("family")
        nameless = np.flatnonzero((given < 0) & (family < 0))
        given, family = given.copy(), family.copy()
        if len(nameless):
            held = np.r_[features.column("email1")[nameless], features.column("email2")[nameless]]
            spelled = _email_names(features, np.unique(held[held >= 0]))
            for column in ("email2", "email1"):  # the first address wins
                email = features.column(column)[nameless]
                known = email >= 0
                rows, found = nameless[known], spelled[email[known]]
                hit = (found[:, 0] >= 0) | (found[:, 1] >= 0)
                given[rows[hit]], family[rows[hit]] = found[hit, 0], found[hit, 1]
        features.derived["names"] = (given, family)
    return features.derived["names"]


def _email_names(features: Features, wanted: np.ndarray) -> np.ndarray:
    """(given id, family id) per email vocabulary id, -1 where the local part spells no such name (or
    the address is not among `wanted`: only nameless records' addresses are read)."""
    gvocab, fvocab = features.vocab["given"], features.vocab["family"]
    givens = {value: gvocab.ids[value] for value in common_values(gvocab)}
    families = {value.replace(" ", ""): fvocab.ids[value] for value in common_values(fvocab)}
    values = features.vocab["email1"].values
    out = np.full((len(values), 2), -1, dtype=np.int32)
    for vid in wanted.tolist():
        found = spelled_names(values[vid].rpartition("@")[0], givens, families)
        if found:
            out[vid] = found
    return out


def spelled_names(local: str, givens: dict[str, int], families: dict[str, int]) -> tuple[int, int] | None:
    """The (given, family) ids a local part spells, -1 for a part it does not; None when it spells no
    name. Ambiguous spellings (two different readings) give None."""
    words = [w for w in _LOCAL_SPLIT.split(_LOCAL_NOISE.sub("", local)) if w]
    if not words:
        return None
    readings: set[tuple[int, int]] = set()
    if len(words) == 1:
        word = words[0]
        for cut in range(2, len(word) - 1):
            head, tail = word[:cut], word[cut:]
            if head in givens and tail in families:
                readings.add((givens[head], families[tail]))
            if head in families and tail in givens:
                readings.add((givens[tail], families[head]))
        if not readings and word in givens and word not in families:
            readings.add((givens[word], -1))
    else:
        first, rest = words[0], "".join(words[1:])
        last, front = words[-1], "".join(words[:-1])
        if first in givens and rest in families:
            readings.add((givens[first], families[rest]))
        if last in givens and front in families:
            readings.add((givens[last], families[front]))
        if not readings and first in givens and len(rest) == 1:
            readings.add((givens[first], -1))
    return readings.pop() if len(readings) == 1 else None
