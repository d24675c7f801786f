"""Masking of emails and phone numbers in a report, section by section, before it is stored or shown
(HTML, CSV and the stored JSON are masked; only `--show-pii` output is not). Ids are masked too where
they are themselves an address or a number: a Twilio caller is keyed by its phone number, a HubSpot
email event points at its recipient's address."""
from __future__ import annotations

import re

from canonical import pii

PII_FIELDS = ("emails", "phones")
_EMAIL_IN_TEXT = re.compile(r"[^@\s:;,'\"()<>]+@[^@\s:;,'\"()<>]+")
_PHONE_IN_TEXT = re.compile(r"\+\d[\d\s().-]{5,}\d")
_PHONE_ID = re.compile(r"^\+?\d[\d\s().-]{5,}\d$")


def mask_report(report: dict) -> dict:
    """A masked copy; the report given stays as it is. Only what masking changes is copied (a deep copy
    of a large report took longer than building it)."""
    masked = dict(report)
    coverage = masked["coverage"] = dict(report["coverage"])
    coverage["members"] = [{**m, "records": {s: [mask_id(i) for i in ids] for s, ids in m["records"].items()}}
                           for m in coverage["members"]]
    missing = masked["missing_fields"] = dict(report["missing_fields"])
    missing["items"] = [{**item, "source_id": mask_id(item["source_id"]),
                         "known_by": [{**known, "source_id": mask_id(known["source_id"]),
                                       "value": mask_value(item["field"], known["value"])} for known in item["known_by"]]}
                        for item in missing["items"]]
    masked["conflicts"] = [{**c, "winner": _mask_side(c["field"], c["winner"]),
                            "others": [_mask_side(c["field"], other) for other in c["others"]]}
                           for c in report["conflicts"]]
    masked["duplicates"] = [{**d, "source_ids": [mask_id(i) for i in d["source_ids"]]} for d in report["duplicates"]]
    orphans = masked["orphans"] = dict(report["orphans"])
    orphans["items"] = [{**o, "customer_ref": mask_id(o["customer_ref"])} for o in orphans["items"]]
    masked["quarantine"] = [_mask_row(row) for row in report["quarantine"]]
    failed = masked["failed_writes"] = dict(report["failed_writes"])
    failed["items"] = [_mask_row(row) for row in failed["items"]]
    masked["pii"] = "masked"
    return masked


def _mask_side(field: str, side: dict) -> dict:
    return {**side, "source_id": mask_id(side["source_id"]), "value": mask_value(field, side["value"])}


def _mask_row(row: dict) -> dict:
    return {**row, "source_id": mask_id(row["source_id"]), "reason": mask_text(row["reason"])}


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
