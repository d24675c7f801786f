"""Masking of customer PII before it reaches a log line, an exception message or a masked report."""
from __future__ import annotations

import re

_EMAIL = re.compile(r"([^@\s]{1,2})[^@\s]*@([^@\s])[^@\s]*")
_DIGITS = re.compile(r"\d")


def mask_email(value: str) -> str:
    """'ana.lima@example.com' -> 'an***@e***'; keeps enough to tell two values apart by eye."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}***", value)


def mask_phone(value: str) -> str:
    """Keeps the last two digits: '+1 415 555 0134' -> '+* *** *** **34'."""
    digits = len(_DIGITS.findall(value))
    seen = 0

    def hide(match: re.Match) -> str:
        nonlocal seen
        seen += 1
        return match.group(0) if seen > digits - 2 else "*"

    return _DIGITS.sub(hide, value)


def mask(value: object) -> str:
    """Masks any scalar that may hold PII; short non-PII tokens stay readable enough to debug."""
    text = str(value)
    if "@" in text:
        return mask_email(text)
    if len(_DIGITS.findall(text)) >= 5:
        return mask_phone(text)
    if len(text) > 3:
        return text[:2] + "***"
    return "***"


def mask_id(value: str | None) -> str | None:
    """A record id as it may appear in a log: kept, unless the id is itself an email or a phone
    (Twilio's caller directory is keyed by number, Mailchimp's activity by address)."""
    return _mask_segment(value) if value else value


def mask_path(path: str) -> str:
    """Masks the path segments that are PII: an email or a phone number used as a record key
    (HubSpot's consent paths, Twilio's caller directory keyed by E.164)."""
    return "/".join(_mask_segment(part) for part in path.split("/"))


def _mask_segment(part: str) -> str:
    decoded = part.replace("%40", "@").replace("%2B", "+").replace("%2b", "+")
    if "@" in decoded or decoded.startswith("+"):
        return mask(decoded)
    return part
