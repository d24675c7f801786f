"""Telling a person's edit from Concord's own write, per source record (SourceRecord.sync_state).

- `edits`: when each survivorship field last changed in the system by someone other than Concord,
  as seen by a read: {field: {"at": the record's updated_at, "run": the run that read it}}. A value
  Concord wrote is not an edit, so writing it clears the entry. Survivorship's `most_recent_edit`
  rule reads these, so that a fresh edit in one system beats the older agreement of the others
  instead of being overwritten by it.
- `consent`: per channel, the status the record holds and since when: {"status", "at"}. Systems
  stamp a consent's time on writes that are not consent events (Mailchimp's last_changed moves with
  a name change) and on Concord's own consent writes (with their clock at the time of the write).
  Taken at face value, a stale opt-in would then look newer than an opt-out given elsewhere and
  re-subscribe the person. So the time only moves when the status does, and a status Concord wrote
  keeps the time of the event it copies (canonical/reconcile/consent.py reads this).

Changes are compared on the same normalized keys survivorship groups values by, so a reformatted
phone or a re-cased email is not an edit."""
from __future__ import annotations

import copy

from canonical.reconcile.survive import FIELDS, candidates


def _key(field: str, record: dict):
    found = candidates(field, record)
    return found[0] if found else None


def observe(state: dict | None, before: dict, after: dict, run_id: str) -> dict | None:
    """The record's sync state after a read that changed it from `before` to `after`."""
    state = copy.deepcopy(state or {})
    for field in (f for f in FIELDS if _key(f, before) != _key(f, after)):
        state.setdefault("edits", {})[field] = {"at": after.get("updated_at") or "", "run": run_id}
    for channel, event in (after.get("consent") or {}).items():
        old = ((before.get("consent") or {}).get(channel) or {})
        if not isinstance(event, dict):
            continue
        if event.get("status") != old.get("status"):
            (state.get("consent") or {}).pop(channel, None)  # a new status: its own time is its time
            continue
        kept = (state.get("consent") or {}).get(channel)
        state.setdefault("consent", {})[channel] = (
            kept if kept and kept.get("status") == event.get("status")
            else {"status": old.get("status"), "at": old.get("updated_at")})
    return state or None


def survivorship_fields(canonical_field: str) -> tuple[str, ...]:
    """Which survivorship fields a written canonical field feeds: a full name feeds both name parts."""
    head = canonical_field.split(".")[0]
    if head == "full_name":
        return ("full_name", "given_name", "family_name")
    return (head,) if head in FIELDS else ()


def wrote(state: dict | None, fields: dict, consent: dict | None) -> dict | None:
    """The record's sync state after Concord wrote `fields` ({canonical field: value}) into it;
    `consent` is the golden consent the consent values came from (for their event times)."""
    state = copy.deepcopy(state or {})
    edits = state.get("edits") or {}
    for field in fields:
        for name in survivorship_fields(field):
            edits.pop(name, None)
        if field.startswith("consent.") and field.endswith(".status"):
            channel = field.split(".")[1]
            event = (consent or {}).get(channel) or {}
            state.setdefault("consent", {})[channel] = {"status": fields[field], "at": event.get("updated_at")}
    state["edits"] = edits
    return state or None


def for_survivorship(record: dict, state: dict | None, run_id: str) -> dict:
    """The canonical record as survivorship sees it: with its edits (each marked fresh when this run
    read it) and since when it holds each consent status."""
    if not state:
        return record
    edits = {f: {**e, "fresh": e.get("run") == run_id} for f, e in (state.get("edits") or {}).items()}
    return {**record, "_edits": edits, "_consent_since": state.get("consent") or {}}
