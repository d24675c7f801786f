"""Which of a system's write-back fields a sync run actually writes.

A mapping's `write_back` says what a system accepts; the policy says what Concord sends. Until the
sync-back policy with value equivalence and conflict handling lands, a run writes only the golden
customer id (where the system has a place for it): it is the one value no other system owns, so it
can never race a human edit or flap between sources."""
from __future__ import annotations

from canonical.mapping import Mapping

SYNCED_FIELDS = ("external_ids.concord",)


def fields_to_sync(mapping: Mapping) -> tuple[str, ...]:
    return tuple(f for f in mapping.write_back if f in SYNCED_FIELDS)
