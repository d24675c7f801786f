"""Masking of emails and phone numbers in a report, section by section, before it is stored or shown
(HTML, CSV and the stored JSON are masked; only `--show-pii` output is not). Ids are masked too where
they are themselves an address or a number: a Twilio caller is keyed by its phone number, a HubSpot
email event points at its recipient's address."""
from __future__ import annotations

import copy
import re

from canonical import pii

PII_FIELDS = ("emails", "phones")
_EMAIL_IN_TEXT = re.compile(r"[^@\s:;,'\"()<>]+@[^@\s:;,'\"()<>]+")
_PHONE_IN_TEXT = re.compile(r"\+\d[\d\s().-]{5,}\d")
_PHONE_ID = re.compile(r"^\+?\d[\d\s().-]{5,}\d$")


def mask_report(report: dict) -> dict:
    masked = copy.deepcopy(report)
    for member in masked["coverage"]["members"]:
        member["records"] = {s: [mask_id(i) for i in ids] for s, ids in member["records"].items()}
    for item in masked["missing_fields"]["items"]:
        _mask_record(item)
        for known in item["known_by"]:
            known["source_id"], known["value"] = mask_id(known["source_id"]), mask_value(item["field"], known["value"])
    for conflict in masked["conflicts"]:
        for side in (conflict["winner"], *conflict["others"]):
            side["source_id"], side["value"] = mask_id(side["source_id"]), mask_value(conflict["field"], side["value"])
    for dup in masked["duplicates"]:
        dup["source_ids"] = [mask_id(i) for i in dup["source_ids"]]
    for orphan in masked["orphans"]["items"]:
        orphan["customer_ref"] = mask_id(orphan["customer_ref"])
    for row in (*masked["quarantine"], *masked["failed_writes"]["items"]):
        _mask_record(row)
        row["reason"] = mask_text(row["reason"])
    masked["pii"] = "masked"
    return masked


def _mask_record(row: dict) -> None:
    row["source_id"] = mask_id(row["source_id"])


def mask_id(value):
    """An id stays as it is unless it is an email address or a phone number."""
    if not isinstance(value, str):
        return value
    if "@" in value or (value.startswith("+") and _PHONE_ID.match(value)):
        return pii.mask(value)
    return value


def mask_value(field: str | None, value):
    """Values of the email and phone fields are masked, item by item; other fields pass."""
    if not field or field.split(".", 1)[0] not in PII_FIELDS or value is None:
        return value
    if isinstance(value, list):
        return [mask_value(field, v) for v in value]
    text = str(value)
    return pii.mask_email(text) if field.startswith("emails") else pii.mask_phone(text)


def mask_text(text):
    """Free text (a vendor's error message) with any address or international number in it masked."""
    if not isinstance(text, str):
        return text
    text = _EMAIL_IN_TEXT.sub(lambda m: pii.mask_email(m.group(0)), text)
    return _PHONE_IN_TEXT.sub(lambda m: pii.mask_phone(m.group(0)), text)
