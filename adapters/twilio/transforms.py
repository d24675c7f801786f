"""Twilio's own transforms: Voice dates are RFC 2822 strings ("Tue, 04 Mar 2025 10:11:12 +0000"),
the canonical model speaks RFC 3339 in UTC."""
from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

from canonical.mapping_transforms import Transform


def _rfc2822_to_rfc3339(value):
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise TypeError("an RFC 2822 date is a string")
    moment = parsedate_to_datetime(value)  # ValueError on a malformed date
    if moment.tzinfo is None:
        raise ValueError("an RFC 2822 date without a zone")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc3339_to_rfc2822(value):
    if value in (None, ""):
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return format_datetime(moment.astimezone(timezone.utc))


TRANSFORMS = {"twilio_rfc2822": Transform(_rfc2822_to_rfc3339, _rfc3339_to_rfc2822)}
