"""`concord explain <customer_id>`: why a golden customer is what it is. Every source record linked
to it, every accepted link between them with the rule or the score (and the comparison level of
each field behind the score), every field with its lineage (which record supplied it, under which
rule, what the other records held), and the merges and splits it went through. It prints customer
data for an operator who asked for it; nothing of it goes to a log."""
from __future__ import annotations

from sqlalchemy import select

from canonical.store import GoldenCustomer, Link, session
from canonical.store.models import ClusterEvent, MatchEvidence


def explain(customer_id: str) -> str | None:
    with session() as s:
        golden = s.get(GoldenCustomer, customer_id)
        if golden is None:
            return None
        links = list(s.scalars(select(Link).where(Link.customer_id == customer_id).order_by(Link.source, Link.source_id)))
        evidence = list(s.scalars(select(MatchEvidence).where(MatchEvidence.customer_id == customer_id)
                                  .order_by(MatchEvidence.weight.desc())))
        events = list(s.scalars(select(ClusterEvent).where(ClusterEvent.customer_id == customer_id)
                                .order_by(ClusterEvent.id)))
        return "\n".join(_header(golden, links) + _links(links, evidence) + _fields(golden) + _events(events))


def _header(golden, links) -> list[str]:
    state = "retired" if golden.retired else "live"
    return [f"customer {golden.customer_id} ({state}; {len(links)} source records; created in run "
            f"{golden.created_run}, last changed in run {golden.updated_run})", "", "records:"] + [
        f"  {l.source}:{l.source_id}  joined by {l.rule}" + (f" (p={l.score:.4f})" if l.score is not None else "")
        + f"  in run {l.linked_run}" for l in links]


def _links(links, evidence) -> list[str]:
    if len(links) < 2:
        return ["", "links: none (a customer of one record)"]
    lines = ["", "links:"]
    for e in evidence:
        levels = " ".join(f"{field}={level}" for field, level in e.levels.items())
        lines.append(f"  {e.source_a}:{e.source_id_a} ~ {e.source_b}:{e.source_id_b}  rule {e.rule}  "
                     f"weight {e.weight:.2f}  p {e.probability:.4f}  [{levels}]")
    return lines


def _fields(golden) -> list[str]:
    lines = ["", "fields:"]
    for name, value in golden.fields.items():
        if name == "consent":
            lines += [_consent_line(channel, event, golden.lineage.get("consent", {}).get(channel, {}))
                      for channel, event in value.items()]
            continue
        lineage = golden.lineage.get(name)
        if lineage is None:
            lines.append(f"  {name} = {value!r}  (kept by Concord)")
            continue
        others = "; ".join(f"{o['source']}:{o['source_id']} held {o['value']!r}" for o in lineage["others"])
        lines.append(f"  {name} = {value!r}  from {lineage['source']}:{lineage['source_id']} by {lineage['rule']}"
                     + (f"; others: {others}" if others else "; no other record disagrees"))
    return lines


def _consent_line(channel: str, event: dict, lineage: dict) -> str:
    others = "; ".join(f"{o['source']}:{o['source_id']} {o['status']} at {o['updated_at']}"
                       for o in lineage.get("others", []))
    return (f"  consent.{channel} = {event['status']} at {event.get('updated_at')}  from {lineage.get('source')}:"
            f"{lineage.get('source_id')} by {lineage.get('rule')}" + (f"; others: {others}" if others else ""))


def _events(events) -> list[str]:
    if not events:
        return ["", "events: none"]
    return ["", "events:"] + [f"  run {e.run_id}: {e.kind} with {', '.join(e.others)}" for e in events]
