"""What a golden customer says a system's field should hold, and when what the system holds already
says the same. Equivalence is what keeps the sync quiet: a value that differs only in format (a phone
typed with dashes, an email in capitals, "Lima, Ana" for Ana Lima, "St" for Street) is not a change,
so it is neither written nor, read back, mistaken for an edit. Case and accents in names do count:
"ana" for "Ana" is a change worth writing."""
from __future__ import annotations

from canonical.mapping import EMPTY, get_path
from canonical.reconcile import normalize

EXPLICIT_CONSENT = ("subscribed", "unsubscribed")


def wanted(golden: dict, field: str):
    """The golden value of a canonical write-back field, in the shape the mapping reverses."""
    if field in ("emails", "phones"):
        values = golden.get(field) or []
        return values[:1] or None
    if field == "full_name":
        given, family = golden.get("given_name"), golden.get("family_name")
        return f"{given} {family}" if given and family else golden.get("full_name")
    if field.startswith("consent.") and field.endswith(".status"):
        status = get_path(golden, field)
        return status if status in EXPLICIT_CONSENT else None  # never write pending or unknown
    return get_path(golden, field)


def equivalent(field: str, have, want) -> bool:
    if want in EMPTY:
        return True  # nothing to say: a sync never clears a value the golden record lacks
    if have in EMPTY:
        return False
    if field == "emails":
        return normalize.email(_first(have)) == normalize.email(_first(want))
    if field == "phones":
        return normalize.phone(_first(have)) == normalize.phone(_first(want))
    if field == "full_name":
        return _parts(have) == _parts(want)
    if field in ("given_name", "family_name"):
        return " ".join(str(have).split()) == " ".join(str(want).split())
    if field in ("address.line1", "address.line2"):
        return normalize.street_line(have) == normalize.street_line(want)
    if field == "address.postcode":
        return normalize.postcode(have) == normalize.postcode(want)
    if field in ("address.city", "address.region", "address.country"):
        return normalize.fold(have) == normalize.fold(want)
    return have == want


def _first(value):
    return value[0] if isinstance(value, list) and value else value


def _parts(full) -> tuple[str, str]:
    given, family = normalize.split_full_name(str(full))
    return " ".join(given.split()), " ".join(family.split())
