"""Erasure of one person everywhere (`concord erase --email/--phone`): in every system that holds them,
through each vendor's deletion endpoint; in the store, every row that mentions them; in the landed raw
pages; and a hashed suppression entry so that no source brings them back."""
from __future__ import annotations

import json

from sqlalchemy import delete, select

from adapters import registry
from canonical import blobs, landing, progress, suppression
from canonical.store import Base, GoldenCustomer, Link, SourceRecord, engine, session

# Children before parents, so that no foreign key points at a deleted row.
TABLE_ORDER = list(reversed(Base.metadata.sorted_tables))


def erase(email: str | None = None, phone: str | None = None) -> dict:
    targets = _targets(email, phone)
    if not targets:
        raise ValueError("erase needs a valid --email or --phone")
    holders, needles = _holders(targets)
    erased = _erase_in_systems(holders)
    store_rows = _unlink(holders, needles) + _purge_store(needles)
    pages = _purge_landing(needles)
    with session() as s:
        for kind, value in targets.items():
            suppression.add(s, kind, value)
    summary = {"erased": erased, "store_rows_removed": store_rows, "landed_pages_rewritten": pages,
               "suppressed": sorted(targets)}
    progress.say(f"erase: {sum(r['ok'] for r in erased.values())} records erased in "
                 f"{len(erased)} systems, {store_rows} store rows and {pages} landed pages purged")
    return summary


def _targets(email: str | None, phone: str | None) -> dict[str, str]:
    found = {"email": suppression.normal_email(email), "phone": suppression.normal_phone(phone)}
    return {kind: value for kind, value in found.items() if value}


def _holders(targets: dict[str, str]) -> tuple[dict[str, list[str]], set[str]]:
    """Per system, the records that are this person — those holding the email or phone, and every
    record reconciliation linked to the same golden customer (a typo'd or stale address is still them);
    and every spelling of their emails and phones those records hold, to find them in raw data."""
    wanted = {suppression.digest(kind, value) for kind, value in targets.items()}
    with session() as s:
        rows = {(r.source, r.source_id): r.canonical for r in s.scalars(select(SourceRecord))}
        links = {(l.source, l.source_id): l.customer_id for l in s.scalars(select(Link))}
    direct = {key for key, canonical in rows.items() if suppression.digests_of(canonical) & wanted}
    customers = {links[key] for key in direct if key in links}
    keys = direct | {key for key, cid in links.items() if cid in customers}
    holders, needles = {}, set(targets.values())
    for system, source_id in sorted(keys):
        holders.setdefault(system, []).append(source_id)
        canonical = rows.get((system, source_id), {})
        needles |= {v.strip() for v in (canonical.get("emails") or []) + (canonical.get("phones") or [])}
    return holders, {n for n in needles if n}


def _erase_in_systems(holders: dict[str, list[str]]) -> dict[str, dict]:
    outcome = {}
    configured = set(registry.configured())
    for system, source_ids in sorted(holders.items()):
        if system not in configured:
            outcome[system] = {"ok": 0, "failed": len(source_ids), "reason": "no connection"}
            continue
        results = registry.build(system).erase(source_ids)
        failed = [r.reason for r in results if not r.ok]
        outcome[system] = {"ok": len(results) - len(failed), "failed": len(failed), "reasons": failed}
    return outcome


def _unlink(holders: dict[str, list[str]], needles: set[str]) -> int:
    """Links carry no personal data but point at rows that do: the erased records' links go, and so do
    all links of a golden customer that mentions the person (its other records re-cluster next run)."""
    keys = {(system, source_id) for system, ids in holders.items() for source_id in ids}
    with session() as s:
        goldens = {g.customer_id for g in s.scalars(select(GoldenCustomer))
                   if _mentions(json.dumps(g.fields, default=str), needles)}
        doomed = [l for l in s.scalars(select(Link)) if (l.source, l.source_id) in keys or l.customer_id in goldens]
        for link in doomed:
            s.delete(link)
    return len(doomed)


def _purge_store(needles: set[str]) -> int:
    """Deletes every row of every table that mentions the person, children first."""
    removed = 0
    with engine().begin() as connection:
        for table in TABLE_ORDER:
            key = list(table.primary_key.columns)
            for row in connection.execute(select(table)).mappings():
                if _mentions(json.dumps(dict(row), default=str), needles):
                    connection.execute(delete(table).where(*[c == row[c.name] for c in key]))
                    removed += 1
    return removed


def _purge_landing(needles: set[str]) -> int:
    rewritten = 0
    for uri in blobs.list_all():
        page = landing.get_page(uri)
        kept = [r for r in page.get("records", []) if not _mentions(json.dumps(r), needles)]
        if len(kept) != len(page.get("records", [])):
            blobs.rewrite(uri, json.dumps({**page, "records": kept}, separators=(",", ":")).encode())
            rewritten += 1
    return rewritten


def _mentions(text: str, needles: set[str]) -> bool:
    folded = text.casefold()
    return any(needle.casefold() in folded for needle in needles)
