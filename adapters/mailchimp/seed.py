"""Mailchimp-shaped seed data: the world's mailchimp views as audience members, its email events as
one campaign's email activity, and a few addresses that were permanently deleted ("forgotten").

Everything follows from (seed, people), so the sandbox and the tests agree without talking."""
from __future__ import annotations

import hashlib

from adapters.world import View, World

DATA_CENTER = "us21"
FORGOTTEN = 3
# Consent the world tracks maps onto Mailchimp's member status; a member with no recorded
# consent is "transactional" (on the audience, never opted in to marketing).
STATUS_OF_CONSENT = {"subscribed": "subscribed", "unsubscribed": "unsubscribed"}


def hex_id(*parts: object, length: int = 32) -> str:
    """A stable hex id derived from its parts (Mailchimp's ids are hex strings of several lengths)."""
    return hashlib.md5(":".join(map(str, parts)).encode()).hexdigest()[:length]


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the md5 of the lower-cased address."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def from_world_time(world_time: str) -> str:
    """The world's "...Z" timestamps as Mailchimp writes them: "2025-03-04T10:11:12+00:00"."""
    return world_time.replace("Z", "+00:00") if world_time else ""


def list_id(seed: int) -> str:
    return hex_id("list", seed, length=10)


def campaign_id(seed: int) -> str:
    return hex_id("campaign", seed, length=10)


def forgotten_emails(seed: int) -> list[str]:
    """Addresses erased from the audience; Mailchimp refuses to re-import them."""
    return [f"erased.{hex_id('forgotten', seed, n, length=8)}@example.net" for n in range(FORGOTTEN)]


def _address(view: View) -> dict | str:
    # Mailchimp answers "" for an empty address merge field, an object otherwise.
    address = view.address
    if not address:
        return ""
    return {"addr1": address.get("line1") or "", "addr2": address.get("line2") or "",
            "city": address.get("city") or "", "state": address.get("region") or "",
            "zip": address.get("postcode") or "", "country": address.get("country") or ""}


def merge_fields(view: View) -> dict:
    birthday = f"{view.birth_date[5:7]}/{view.birth_date[8:10]}" if view.birth_date else ""
    return {"FNAME": view.given_name or "", "LNAME": view.family_name or "", "PHONE": view.phone or "",
            "ADDRESS": _address(view), "BIRTHDAY": birthday}


def blank_member(member_id: str, email: str, audience: str) -> dict:
    """A member with nothing known but its address, as Mailchimp creates one."""
    return {
        "id": member_id, "email_address": email, "unique_email_id": hex_id("unique", member_id, length=10),
        "contact_id": hex_id("contact", member_id), "full_name": "", "web_id": int(member_id[:7], 16),
        "email_type": "html", "status": "transactional", "consents_to_one_to_one_messaging": True,
        "merge_fields": {"FNAME": "", "LNAME": "", "PHONE": "", "ADDRESS": "", "BIRTHDAY": ""},
        "stats": {"avg_open_rate": 0, "avg_click_rate": 0}, "ip_signup": "", "timestamp_signup": "",
        "ip_opt": "", "timestamp_opt": "", "member_rating": 2, "last_changed": "", "language": "", "vip": False,
        "email_client": "", "source": "API - Generic", "tags_count": 0, "tags": [], "list_id": audience,
    }


def member(view: View, audience: str) -> dict:
    """One audience member as GET /3.0/lists/{list_id}/members/{hash} answers it."""
    consent = view.consent.get("email") or {}
    status = STATUS_OF_CONSENT.get(consent.get("status"), "transactional")
    fields = merge_fields(view)
    return {
        **blank_member(view.source_id, view.email, audience),
        "full_name": f"{fields['FNAME']} {fields['LNAME']}".strip(), "status": status, "merge_fields": fields,
        "timestamp_signup": from_world_time(view.created_at),
        "timestamp_opt": from_world_time(consent.get("updated_at", "")) if status == "subscribed" else "",
        "last_changed": from_world_time(view.updated_at),
    }


def members(world: World, audience: str) -> list[dict]:
    return [member(view, audience) for view in world.views("mailchimp")]


def email_activity(world: World, campaign: str) -> list[tuple]:
    """Rows (email_id, email_address, action, timestamp, url) of the campaign's report, one per
    event. Orphan events belong to members since deleted: the report keeps only their id."""
    emails = {view.source_id: view.email for view in world.views("mailchimp")}
    rows = []
    for event in world.activities("mailchimp"):
        action = event.attributes["type"]
        url = f"https://shop.example.com/c/{campaign}" if action == "click" else None
        rows.append((event.customer_ref, emails.get(event.customer_ref), action,
                     from_world_time(event.occurred_at), url))
    return rows
