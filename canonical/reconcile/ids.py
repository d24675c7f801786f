"""Stable customer ids: a cluster keeps the id most of its records were linked to before; failing
that, the Concord id a source already carries (written back by an earlier run, so that a lost store
recovers its ids); only a cluster with neither gets a new id. When a customer splits, the largest
share keeps the id; when customers merge, the largest one's id survives and the others retire."""
from __future__ import annotations

import uuid
from collections import Counter

Key = tuple[str, str]  # (source, source_id)


def new_id() -> str:
    return f"cus_{uuid.uuid4().hex[:20]}"


def assign(clusters: list[list[Key]], previous: dict[Key, str], carried: dict[Key, str]) -> list[str]:
    """One id per cluster (a list of member keys), in order. The largest claim on an old id wins it."""
    claims = sorted(
        ((count, -index, cid) for index, members in enumerate(clusters)
         for cid, count in Counter(previous[k] for k in members if k in previous).items()),
        reverse=True,
    )
    ids: list[str | None] = [None] * len(clusters)
    taken = set()
    for _count, neg_index, cid in claims:
        index = -neg_index
        if ids[index] is None and cid not in taken:
            ids[index] = cid
            taken.add(cid)
    for index, members in enumerate(clusters):
        if ids[index] is None:
            ids[index] = _carried(members, carried, taken) or new_id()
            taken.add(ids[index])
    return ids


def _carried(members: list[Key], carried: dict[Key, str], taken: set) -> str | None:
    found = Counter(carried[k] for k in members if carried.get(k))
    return next((cid for cid, _ in found.most_common() if cid not in taken), None)


def events(clusters: list[list[Key]], ids: list[str], previous: dict[Key, str]) -> list[dict]:
    """Merges and splits between the previous links and this assignment: a merge when a customer
    took in records of other previous customers, a split when a previous customer's records now
    belong to several customers."""
    found, now = [], {}
    for cid, members in zip(ids, clusters):
        now.update(dict.fromkeys(members, cid))
        before = {previous[k] for k in members if k in previous}
        absorbed = sorted(before - {cid})
        if len(before) > 1:
            found.append({"kind": "merge", "customer_id": cid, "others": absorbed})
    parts: dict[str, set[str]] = {}
    for key, old in previous.items():
        if key in now:
            parts.setdefault(old, set()).add(now[key])
    for old, new in sorted(parts.items()):
        if len(new) > 1:
            found.append({"kind": "split", "customer_id": old, "others": sorted(new - {old})})
    return found
