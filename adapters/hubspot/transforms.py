"""HubSpot's own value forms, turned into canonical ones and back: the Communication Preferences v4
subscription status of an email address, and the epoch milliseconds that HubSpot's legacy APIs use
for times."""
from __future__ import annotations

from datetime import datetime, timezone

from canonical.mapping_transforms import Transform

# NOT_SPECIFIED: the address never opted in or out of this subscription.
TO_CANONICAL = {"SUBSCRIBED": "subscribed", "UNSUBSCRIBED": "unsubscribed", "NOT_SPECIFIED": "unknown"}
TO_HUBSPOT = {"subscribed": "SUBSCRIBED", "unsubscribed": "UNSUBSCRIBED"}


def _status_forward(value):
    if value is None:
        return None
    if value not in TO_CANONICAL:
        raise ValueError("unknown subscription status")
    return TO_CANONICAL[value]


def _status_reverse(value):
    # "pending" has no HubSpot status, and "unknown" must never clear one that HubSpot holds: nothing to write.
    return TO_HUBSPOT.get(value)


def _millis_forward(value):
    if value is None:
        return None
    moment = datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(value) % 1000:03d}Z"


def _millis_reverse(value):
    if value is None:
        return None
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


TRANSFORMS = {
    "hubspot_subscription_status": Transform(_status_forward, _status_reverse),
    "hubspot_epoch_millis": Transform(_millis_forward, _millis_reverse),
}
