"""Shopify's own mapping transforms: its marketing consent states to the canonical statuses and back."""
from __future__ import annotations

from canonical.mapping_transforms import Transform

# NOT_SUBSCRIBED means the customer was never asked; INVALID (a bouncing address) and REDACTED
# (erased) say nothing about what the person wants. None of them is an opt-out.
_CANONICAL = {"SUBSCRIBED": "subscribed", "UNSUBSCRIBED": "unsubscribed", "PENDING": "pending",
              "NOT_SUBSCRIBED": "unknown", "INVALID": "unknown", "REDACTED": "unknown"}
# Only these three can be written: the consent mutations refuse every other state.
_SHOPIFY = {"subscribed": "SUBSCRIBED", "unsubscribed": "UNSUBSCRIBED", "pending": "PENDING"}


def _consent_state(value):
    if value is None:
        return None
    if value not in _CANONICAL:
        raise ValueError("unknown Shopify marketing state")
    return _CANONICAL[value]


def _marketing_state(value):
    # "unknown" has no Shopify state to write: leave the consent as Shopify holds it.
    return _SHOPIFY.get(value)


TRANSFORMS = {"shopify_consent_state": Transform(_consent_state, _marketing_state)}
