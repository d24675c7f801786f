"""The suppression list: erased people, kept only as hashes of their normalized email and phone, so
that no source can bring them back and nobody can read them off the list."""
from __future__ import annotations

import hashlib
import unicodedata

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from canonical.store import Suppression

# A fixed namespace keeps these digests from matching any other hash of the same address.
NAMESPACE = "concord-suppression-v1"


def normal_email(value: str | None) -> str | None:
    folded = unicodedata.normalize("NFKC", value or "").strip().casefold()
    return folded if "@" in folded else None


def normal_phone(value: str | None, region: str = "US") -> str | None:
    try:
        parsed = phonenumbers.parse(value or "", region)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) if parsed.national_number else None


def digest(kind: str, normalized: str) -> str:
    return hashlib.sha256(f"{NAMESPACE}:{kind}:{normalized}".encode()).hexdigest()


def digests_of(record: dict) -> set[str]:
    """The digests a canonical record would match on: each of its emails and phones, normalized."""
    found = {digest("email", e) for e in map(normal_email, record.get("emails") or []) if e}
    found |= {digest("phone", p) for p in map(normal_phone, record.get("phones") or []) if p}
    return found


def add(s: Session, kind: str, normalized: str) -> None:
    key = digest(kind, normalized)
    if s.get(Suppression, key) is None:
        s.add(Suppression(digest=key, kind=kind))


def loaded(s: Session) -> set[str]:
    return set(s.scalars(select(Suppression.digest)))
