"""Normalization of the values that matching compares. The stored canonical records keep the source's
own values; only the comparison sees these."""
from __future__ import annotations

import re
import unicodedata

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def email(value: str | None) -> str | None:
    """Case- and whitespace-folded; None when it is not an address at all."""
    if not value:
        return None
    folded = unicodedata.normalize("NFKC", value).strip().casefold()
    return folded if _EMAIL.match(folded) else None
