"""Stable customer ids: a cluster keeps the id most of its records were linked to before; failing that,
the Concord id a source already carries (written back by an earlier run, so a lost store recovers its
ids); only a cluster with neither gets a new id."""
from __future__ import annotations

import uuid
from collections import Counter

from canonical.reconcile.cluster import Cluster, Key


def new_id() -> str:
    return f"cus_{uuid.uuid4().hex[:20]}"


def assign(clusters: list[Cluster], previous: dict[Key, str], carried: dict[Key, str]) -> list[str]:
    """One id per cluster, in order. The largest claim on an old id wins it; a split-off part gets a new one."""
    claims = sorted(
        ((count, -index, cid) for index, c in enumerate(clusters)
         for cid, count in Counter(previous[k] for k in c.members if k in previous).items()),
        reverse=True,
    )
    ids: list[str | None] = [None] * len(clusters)
    taken = set()
    for _count, neg_index, cid in claims:
        index = -neg_index
        if ids[index] is None and cid not in taken:
            ids[index] = cid
            taken.add(cid)
    for index, cluster in enumerate(clusters):
        if ids[index] is None:
            ids[index] = _carried(cluster, carried, taken) or new_id()
            taken.add(ids[index])
    return ids


def _carried(cluster: Cluster, carried: dict[Key, str], taken: set) -> str | None:
    found = Counter(carried[k] for k in cluster.members if carried.get(k))
    return next((cid for cid, _ in found.most_common() if cid not in taken), None)
