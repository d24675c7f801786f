"""The comparison features of source records, held column-wise: every normalized value is interned
to an integer id per column (-1 when missing), so that blocking and comparison run on arrays rather
than on millions of dicts. Rows are appended once and never change; a changed record is a new row."""
from __future__ import annotations

from array import array

import numpy as np

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
        values = extract(record)
        for name in COLUMNS:
            self._rows[name].append(self.vocab[name].id(values[name]))
        self.keys.append((record["source"], str(record["source_id"])))
        self.claims.append(values["claims"])
        return len(self.keys) - 1

    def freeze(self) -> "Features":
        """Turns the appended rows into arrays (call again after more rows were added)."""
        self.arrays = {name: np.frombuffer(rows, dtype=np.int32).copy() for name, rows in self._rows.items()}
        self.derived = {}
        return self

    def column(self, name: str) -> np.ndarray:
        return self.arrays[name]


def extract(record: dict) -> dict:
    """The normalized values of one record, by column name."""
    emails = [e for e in map(normalize.email, record.get("emails") or []) if e][:2]
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
