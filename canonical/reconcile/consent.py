"""Consent survivorship, per channel: the newest explicit event (subscribed or unsubscribed) wins;
on a tie in time the opt-out wins; so an older opt-in never overwrites a newer opt-out. A channel
with no explicit event anywhere keeps the newest pending/unknown status.

A status is dated by when the record came to hold it (`_consent_since`, kept by canonical/sync/edits.py),
not by the time the system last stamped it: systems restamp a consent on unrelated writes and on
Concord's own, and a restamped stale opt-in would otherwise outrank an opt-out given elsewhere in the
meantime and re-subscribe the person."""
from __future__ import annotations

EXPLICIT = ("subscribed", "unsubscribed")


def _rank(event: dict) -> tuple:
    # Sorts newest first, explicit before pending/unknown, and unsubscribed first within a second.
    return (event["status"] in EXPLICIT, event.get("updated_at") or "", event["status"] == "unsubscribed")


def _dated(record: dict, channel: str, event: dict) -> dict:
    since = (record.get("_consent_since") or {}).get(channel) or {}
    if since.get("status") == event["status"] and since.get("at"):
        return {**event, "updated_at": since["at"]}
    return event


def golden_consent(records: list[dict]) -> tuple[dict, dict]:
    """(channel -> {status, updated_at}, channel -> lineage) over the records of one customer."""
    events: dict[str, list[dict]] = {}
    for record in records:
        for channel, event in (record.get("consent") or {}).items():
            if isinstance(event, dict) and event.get("status"):
                events.setdefault(channel, []).append({**_dated(record, channel, event), "source": record["source"],
                                                       "source_id": record["source_id"]})
    fields, lineage = {}, {}
    for channel, found in sorted(events.items()):
        ordered = sorted(found, key=_rank, reverse=True)
        winner = ordered[0]
        fields[channel] = {"status": winner["status"], "updated_at": winner.get("updated_at")}
        lineage[channel] = {"source": winner["source"], "source_id": winner["source_id"], "rule": "consent_newest_explicit",
                            "others": [{k: e.get(k) for k in ("source", "source_id", "status", "updated_at")}
                                       for e in ordered[1:]]}
    return fields, lineage
