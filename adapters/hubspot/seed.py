"""Seed data for the HubSpot sandbox, drawn from the shared world (adapters.world): its HubSpot views
become CRM contacts, their email consent becomes marketing-subscription statuses, and their email
events become rows of the legacy email events API.

HubSpot holds every property as a string (or null), timestamps as ISO 8601 with milliseconds, and
has no second address line, so `line2` of a view is not kept. Malformed views keep their broken
value. An email event needs an address HubSpot could send to, so views without an email or with a
broken one have none; an orphan event (its contact gone) keeps an address no contact holds."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from adapters.world import Activity, View, World

PORTAL_ID = 4815162
SUBSCRIPTION_ID = "9201734"
SUBSCRIPTION_NAME = "Marketing Information"
# The properties this portal defines; a request for any other is ignored, as HubSpot does.
PROPERTIES = ("email", "firstname", "lastname", "phone", "mobilephone", "address", "city", "state", "zip",
              "country", "date_of_birth", "hs_object_id", "createdate", "lastmodifieddate", "concord_customer_id")
READ_ONLY = ("hs_object_id", "createdate", "lastmodifieddate")
# Communication Preferences v4 statuses of the consent a view heard.
STATUS_OF = {"subscribed": "SUBSCRIBED", "unsubscribed": "UNSUBSCRIBED"}


@dataclass(frozen=True)
class Seed:
    contacts: list[dict]
    subscriptions: list[tuple[str, str, int]]   # (email key, v4 status, changed at epoch ms)
    events: list[dict]


def email_key(email: str | None) -> str | None:
    """HubSpot matches addresses trimmed and case-insensitively."""
    return email.strip().lower() if email and email.strip() else None


def millis(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)


def iso_millis(epoch_ms: int) -> str:
    """HubSpot's timestamp form: "2025-03-04T10:11:12.000Z"."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def contact(view: View) -> dict:
    address = view.address or {}
    created, updated = iso_millis(millis(view.created_at)), iso_millis(millis(view.updated_at))
    properties = {
        "email": view.email, "firstname": view.given_name, "lastname": view.family_name,
        "phone": view.phone, "mobilephone": None, "address": address.get("line1") or None,
        "city": address.get("city") or None, "state": address.get("region") or None,
        "zip": address.get("postcode") or None, "country": address.get("country") or None,
        "date_of_birth": view.birth_date, "hs_object_id": view.source_id, "createdate": created,
        "lastmodifieddate": updated, "concord_customer_id": None,
    }
    return {"id": view.source_id, "properties": properties, "createdAt": created, "updatedAt": updated,
            "archived": False}


def subscription(view: View) -> tuple[str, str, int] | None:
    heard = view.consent.get("email")
    key = email_key(view.email)
    if not heard or key is None:
        return None
    return key, STATUS_OF[heard["status"]], millis(heard["updated_at"])


def recipients(views: list[View]) -> dict[str, str]:
    """Contact id -> the address HubSpot sends to, for contacts it can send to."""
    return {v.source_id: email_key(v.email) for v in views if email_key(v.email) and v.malformed != "email"}


def event(activity: Activity, recipient: str) -> dict:
    created = millis(activity.occurred_at)
    # One campaign a month: events of the same month share it, as a monthly newsletter's would.
    campaign = 70_000_000 + int(activity.occurred_at[:4]) * 12 + int(activity.occurred_at[5:7])
    return {"id": activity.source_id, "recipient": recipient, "type": activity.attributes["type"].upper(),
            "created": created, "portalId": PORTAL_ID, "emailCampaignId": campaign}


def events(activities: list[Activity], sendable: dict[str, str]) -> list[dict]:
    out = []
    for activity in activities:
        if activity.person_id is None:
            out.append(event(activity, f"former-contact-{activity.customer_ref}@example.invalid"))
        elif activity.customer_ref in sendable:
            out.append(event(activity, sendable[activity.customer_ref]))
    return out


def seed(seed_value: int, customers: int) -> Seed:
    world = World(seed_value, customers)
    views = world.views("hubspot")
    found = (subscription(v) for v in views)
    # An address is one subscriber however many contacts carry it; the newest status wins.
    latest: dict[str, tuple[str, str, int]] = {}
    for row in sorted((r for r in found if r), key=lambda r: r[2]):
        latest[row[0]] = row
    return Seed([contact(v) for v in views], list(latest.values()),
                events(world.activities("hubspot"), recipients(views)))
