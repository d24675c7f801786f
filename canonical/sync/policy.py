"""A system's write-back policy, declared beside its mapping (mappings/<system>.yaml, customer stream):

    write_back: [...]          the canonical fields Concord writes into the system
    sync_policy:
      unique: [...]            fields the system keeps unique (one record per customer carries them)
      identity: phones         the golden field a record's own id is (Twilio's directory: the number)
      consent_opt_in: true     whether an opt-in travels here (an opt-out always does)
      consent_resubscribe: true  whether an opt-in may replace an opt-out the system holds (when the
                               opt-in is newer); false where only the person may undo an unsubscribe
      create:
        for: none|known|all    none: never create; known: only customers the system already holds
                               under another identity (a new number for a known caller); all: any
        require: [emails]      golden fields a customer must have to be created
        consent: email         ... and a subscribed golden consent on this channel
        with: [...]            the fields a new record is made with

Creation is off unless the mapping says otherwise; CONCORD_CREATE_<SYSTEM>=none|known|all overrides
it per deployment (e.g. CONCORD_CREATE_MAILCHIMP=all gives marketing every subscribed customer)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from canonical import mapping as mappings
from canonical.mapping import MappingError

CREATE_SCOPES = ("none", "known", "all")


@dataclass(frozen=True)
class Policy:
    system: str
    fields: tuple[str, ...]
    unique: tuple[str, ...] = ()
    identity: str | None = None
    consent_opt_in: bool = True
    consent_resubscribe: bool = True
    create_for: str = "none"
    create_require: tuple[str, ...] = ()
    create_consent: str | None = None
    create_with: tuple[str, ...] = ()


def load(system: str) -> Policy:
    mapping = mappings.load(system).customers
    spec, create = mapping.policy, mapping.policy.get("create") or {}
    scope = os.environ.get(f"CONCORD_CREATE_{system.upper()}") or create.get("for", "none")
    if scope not in CREATE_SCOPES:
        raise MappingError(f"{system}: sync_policy.create.for (or CONCORD_CREATE_{system.upper()}) is {scope!r}; "
                           f"expected one of {CREATE_SCOPES}")
    if scope != "none" and not create.get("with"):
        raise MappingError(f"{system}: creation is on ({scope}) but sync_policy.create.with names no field")
    if scope == "known" and not spec.get("identity"):
        raise MappingError(f"{system}: create.for 'known' needs sync_policy.identity (what makes a record new)")
    return Policy(system, tuple(mapping.write_back), tuple(spec.get("unique") or ()), spec.get("identity"),
                  bool(spec.get("consent_opt_in", True)), bool(spec.get("consent_resubscribe", True)), scope, tuple(create.get("require") or ()),
                  create.get("consent"), tuple(create.get("with") or ()))
