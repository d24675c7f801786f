"""Mailchimp's own value conversions for mappings/mailchimp.yaml (merged in by the mapping loader)."""
from __future__ import annotations

from canonical.mapping_transforms import Transform

# "cleaned" is a hard-bounced address: no marketing mail reaches it, so it counts as an opt-out.
# "transactional" and "archived" members never said yes or no to marketing.
CONSENT_OF_STATUS = {"subscribed": "subscribed", "unsubscribed": "unsubscribed", "cleaned": "unsubscribed",
                     "pending": "pending"}
STATUS_OF_CONSENT = {"subscribed": "subscribed", "unsubscribed": "unsubscribed", "pending": "pending"}


def _consent(status):
    return None if status is None else CONSENT_OF_STATUS.get(status, "unknown")


def _status(consent):
    # "unknown" has no Mailchimp status to write: None leaves the member's status as it is.
    return STATUS_OF_CONSENT.get(consent)


TRANSFORMS = {
    "mailchimp_consent_status": Transform(_consent, _status),
}
