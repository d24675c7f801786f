"""Survivorship: the golden value of each field and its lineage. Per field, an ordered list of
rules from canonical/survivorship.yaml (most_recent_edit, most_frequent, recency_weighted,
most_recent, source_priority, most_complete, most_corroborated): values are grouped by their
normalized form, each rule keeps the groups it scores best, and a later rule only breaks the ties
the earlier ones leave. Consent has its own rule (consent.py).

Records may carry `_edits` (canonical/sync/edits.py): when a person last changed a field in that
system. `most_recent_edit` lets such an edit beat the older agreement of the other systems, and two
different values edited since the last sync are a conflict, kept in the field's lineage."""
from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import yaml

from canonical.hashing import digest
from canonical.reconcile import normalize
from canonical.reconcile.consent import golden_consent

CONFIG = Path(__file__).resolve().parents[1] / "survivorship.yaml"
RULES = ("most_recent_edit", "most_frequent", "recency_weighted", "most_recent", "source_priority", "most_complete",
         "most_corroborated")
HALF_LIFE_DAYS = 90.0
FIELDS = ("given_name", "family_name", "full_name", "emails", "phones", "address", "birth_date")


# Part of rules_digest: raise it when a change to this module's code changes what the rules choose,
# so that every stored golden record is computed again (as a changed survivorship.yaml does).
VERSION = 3


def rules_digest(path: str = str(CONFIG)) -> str:
    """What the golden records are computed with: the configured rules and the version of their code."""
    return digest({"version": VERSION, "config": load_config(path)})


@lru_cache(maxsize=4)
def load_config(path: str = str(CONFIG)) -> dict:
    """{field: {"rules": [...], "priority": [...], "half_life_days": n}} with the defaults filled in."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    default = data.get("default_priority", [])
    config = {}
    for name, spec in data["fields"].items():
        unknown = set(spec["rules"]) - set(RULES)
        if unknown:
            raise ValueError(f"survivorship.yaml: field {name}: unknown rule(s) {sorted(unknown)}")
        half_life = spec.get("half_life_days", data.get("half_life_days", HALF_LIFE_DAYS))
        if not isinstance(half_life, (int, float)) or isinstance(half_life, bool) or half_life <= 0:
            raise ValueError(f"survivorship.yaml: field {name}: half_life_days must be a positive number of days, "
                             f"not {half_life!r}")
        config[name] = {"rules": list(spec["rules"]), "priority": list(spec.get("priority", default)),
                        "half_life_days": float(half_life)}
    return config


def candidates(field: str, record: dict) -> tuple[str, object] | None:
    """(comparison key, value to show) of one record's value for `field`, or None."""
    if field in ("given_name", "family_name"):
        given, family = record.get("given_name") or "", record.get("family_name") or ""
        if not (given or family):
            given, family = normalize.split_full_name(record.get("full_name"))
        raw = (given if field == "given_name" else family).strip()
        return (normalize.fold(raw), raw) if raw else None
    if field == "full_name":
        raw = (record.get("full_name") or "").strip()
        return (normalize.fold(raw), raw) if raw else None
    if field in ("emails", "phones"):
        clean = normalize.email if field == "emails" else normalize.phone
        value = next(filter(None, map(clean, record.get(field) or [])), None)
        return (value, value) if value else None
    if field == "address":
        address = record.get("address") or {}
        if not address.get("line1"):
            return None
        key = "|".join((normalize.postcode(address.get("postcode"), address.get("country")),
                        normalize.street_line(address.get("line1")), normalize.street_line(address.get("line2"))))
        return key, address
    value = normalize.birth_date(record.get(field))
    return (value, value) if value else None


def choose(field: str, records: list[dict], rules: list[str], priority: list[str],
           half_life_days: float = HALF_LIFE_DAYS) -> dict | None:
    """The winning value of `field` among `records`: {"value", "holders", "rule", "groups"}."""
    groups: dict[str, list[tuple[dict, object]]] = {}
    for record in records:
        found = candidates(field, record)
        if found:
            groups.setdefault(found[0], []).append((record, found[1]))
    if not groups:
        return None
    alive, deciding = sorted(groups), "only_value"
    for rule in rules:
        if len(alive) == 1:
            break
        if rule == "recency_weighted":
            scores = _recency_weighted(alive, groups, half_life_days)
        else:
            scores = {key: _score(rule, key, groups[key], priority, records, field) for key in alive}
        best = max(scores.values())
        alive, deciding = [key for key in alive if scores[key] == best], rule
    holders = groups[alive[0]]
    return {"value": _shown(field, holders), "holders": holders, "rule": deciding, "groups": groups, "key": alive[0]}


def _score(rule: str, key: str, holders: list, priority: list[str], records: list[dict], field: str):
    if rule == "most_recent_edit":
        return max(_edit(record, field).get("at") or "" for record, _ in holders)
    if rule == "most_corroborated":
        if field == "full_name":  # by its given name; the key cannot be split, folding drops the comma
            return max(_corroboration("given_name", normalize.fold(normalize.split_full_name(value)[0]), records)
                       for _, value in holders)
        return _corroboration(field, key, records)
    if rule == "most_frequent":
        return len(holders)
    if rule == "most_recent":
        return max(record["updated_at"] for record, _ in holders)
    if rule == "source_priority":
        ranks = [priority.index(r["source"]) if r["source"] in priority else len(priority) for r, _ in holders]
        return -min(ranks)
    return len(key)  # most_complete: the fuller value (a formal name over its nickname)


def _recency_weighted(alive: list[str], groups: dict, half_life_days: float) -> dict[str, float]:
    """Votes that fade with age: each record votes for its value with a weight that halves for every
    `half_life_days` it was updated before the newest record holding the field. Agreement among
    records of the same season still wins; two old records that never heard of a change do not
    outvote the one that did, once they are a few half-lives behind it. Scores are rounded so that
    equal votes tie exactly and the next rule decides."""
    times = {key: [_epoch(record["updated_at"]) for record, _ in groups[key]] for key in alive}
    newest = max(t for ts in times.values() for t in ts)
    scale = math.log(2) / (half_life_days * 86400)
    return {key: round(sum(math.exp((t - newest) * scale) for t in ts), 9) for key, ts in times.items()}


@lru_cache(maxsize=1 << 16)
def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _edit(record: dict, field: str) -> dict:
    return (record.get("_edits") or {}).get(field) or {}


def _conflict(field: str, won: dict) -> list[dict]:
    """Edits of other values made since the last sync (read in this run), when the winner was edited
    in this run too: two systems changed the field differently, and the newer edit won."""
    fresh = {key for key, holders in won["groups"].items()
             if any(_edit(record, field).get("fresh") for record, _ in holders)}
    if won["key"] not in fresh or len(fresh) < 2:
        return []
    # No values here: they are in the lineage's `others`, which the report masks.
    return [{"source": record["source"], "source_id": record["source_id"], "edited_at": _edit(record, field).get("at")}
            for key in sorted(fresh - {won["key"]}) for record, _ in won["groups"][key]
            if _edit(record, field).get("fresh")]


def _letters(text: str) -> str:
    return "".join(c for c in normalize.fold(text) if c.isalpha())


def _corroboration(field: str, key: str, records: list[dict]) -> int:
    """How many of the customer's records support the value through another field: a name that
    their email addresses spell, an email address that spells their names. A typo is rarely
    corroborated; the true value usually is."""
    if field in ("given_name", "family_name"):
        name = _letters(key)
        locals_ = [_letters(e.split("@")[0]) for r in records for e in map(normalize.email, r.get("emails") or []) if e]
        return sum(len(name) >= 3 and name in local for local in locals_)
    if field == "emails":
        local = _letters(key.split("@")[0])
        names = [_letters(n) for r in records for n in normalize.names(r) if n]
        return sum(len(n) >= 3 and n in local for n in names)
    return 0


def _shown(field: str, holders: list) -> object:
    """Of the spellings in the winning group, the best-kept one: mixed case, accents kept, then
    the most common, then the most recent."""
    if field not in ("given_name", "family_name", "full_name"):
        return max(holders, key=lambda h: h[0]["updated_at"])[1]
    spellings: dict[str, list] = {}
    for record, value in holders:
        spellings.setdefault(value, []).append(record["updated_at"])

    def quality(value: str):
        return (not (value.isupper() or value.islower()), not value.isascii(), len(spellings[value]),
                max(spellings[value]))

    return max(spellings, key=quality)


def golden(customer_id: str, records: list[dict], config: dict | None = None) -> tuple[dict, dict]:
    """records: canonical source records of one person. Returns (fields, lineage)."""
    config = config or load_config()
    fields, lineage = {}, {}
    for name in FIELDS:
        spec = config.get(name, {"rules": ["most_recent"], "priority": []})
        won = choose(name, records, spec["rules"], spec["priority"], spec.get("half_life_days", HALF_LIFE_DAYS))
        if won is None:
            continue
        fields[name] = _as_field(name, won)
        lineage[name] = _lineage(won)
        conflict = _conflict(name, won)
        if conflict:
            lineage[name]["conflict"] = conflict
    consent, consent_lineage = golden_consent(records)
    if consent:
        fields["consent"], lineage["consent"] = consent, consent_lineage
    fields["external_ids"] = {**_known_external_ids(records), "concord": customer_id}
    return fields, lineage


def _as_field(name: str, won: dict) -> object:
    if name in ("emails", "phones"):  # the winner first, then every other value the customer has
        others = sorted((k for k in won["groups"] if k != won["key"]), key=lambda k: -len(won["groups"][k]))
        return [won["value"], *others]
    return won["value"]


def _lineage(won: dict) -> dict:
    record = max((r for r, value in won["holders"] if value == won["value"]), key=lambda r: r["updated_at"])
    return {"source": record["source"], "source_id": record["source_id"], "rule": won["rule"],
            "others": [{"source": r["source"], "source_id": r["source_id"], "value": value}
                       for key, holders in sorted(won["groups"].items()) if key != won["key"] for r, value in holders]}


def _known_external_ids(records: list[dict]) -> dict:
    ids = {}
    for record in sorted(records, key=lambda r: r["updated_at"]):  # the newest wins
        ids.update({k: v for k, v in (record.get("external_ids") or {}).items() if v and k != "concord"})
    return ids
