"""Seed data for the Twilio sandbox, drawn from the shared world: the caller directory (one Sync Map
Item per twilio View, keyed by the E.164 number) and the Voice call log (one Call per twilio
Activity). Everything here is deterministic for a seed and a world size; the account's SIDs, which
are generated once per state, are added when a record is served.

The world's calls are served as inbound calls from the customer's number: the caller directory and
the call log meet on the caller's E.164 number, which is what the IVR looks up."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from adapters.world import Activity, View, World
from adapters.world.views import format_phone

# A toll-free number in the 555-01xx fiction range: it belongs to no person of the world.
SUPPORT_NUMBER = "+18885550142"
PRICE_PER_MINUTE = 0.0085  # Twilio's US inbound rate: calls are billed per started minute


@dataclass(frozen=True)
class Seed:
    items: list[dict]   # {"key", "data", "date_created", "date_updated"}
    calls: list[dict]   # Call resources without the account's SIDs and URIs


def seed(seed_value: int, customers: int) -> Seed:
    world = World(seed_value, customers)
    dresser = random.Random(f"{seed_value}:twilio:display")
    items = [map_item(view, format_phone(dresser, view.phone)) for view in world.views("twilio")]
    return Seed(items, [call(activity) for activity in world.activities("twilio")])


def map_item(view: View, phone_display: str) -> dict:
    """A caller-directory entry: the number as key, what the agents typed as data."""
    name = " ".join(part for part in (view.given_name, view.family_name) if part) or None
    data = {"name": name, "email": view.email, "phone_display": phone_display,
            "consent_sms": view.consent.get("sms"), "concord_customer_id": None}
    return {"key": view.source_id, "data": data, "date_created": view.created_at,
            "date_updated": view.updated_at}


def call(activity: Activity) -> dict:
    """A Call resource as Voice reports a finished inbound call (times are RFC 2822 strings)."""
    start = parse_iso(activity.occurred_at)
    duration = int(activity.attributes.get("duration") or 0)
    status = activity.attributes.get("status", "completed")
    end = start + timedelta(seconds=duration)
    return {
        "sid": activity.source_id, "parent_call_sid": None, "date_created": rfc2822(start - timedelta(seconds=1)),
        "date_updated": rfc2822(end + timedelta(seconds=1)), "to": SUPPORT_NUMBER,
        "to_formatted": formatted(SUPPORT_NUMBER), "from": activity.customer_ref,
        "from_formatted": formatted(activity.customer_ref), "status": status,
        "start_time": rfc2822(start), "end_time": rfc2822(end), "duration": str(duration),
        "price": price(duration, status), "price_unit": "USD", "direction": "inbound", "answered_by": None,
        "api_version": "2010-04-01", "forwarded_from": None, "group_sid": None, "caller_name": None,
        "queue_time": "0", "trunk_sid": None,
    }


def price(duration: int, status: str) -> str | None:
    if status != "completed":
        return None  # unanswered calls are not billed
    return f"{-math.ceil(duration / 60) * PRICE_PER_MINUTE:.5f}"


def formatted(number: str) -> str:
    """Twilio's display form: "(305) 141-6799" for North American numbers, E.164 otherwise."""
    if number.startswith("+1") and len(number) == 12:
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    """Sync's timestamps: ISO 8601 in UTC to the second."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc2822(moment: datetime) -> str:
    """Voice's timestamps: "Tue, 04 Mar 2025 10:11:12 +0000"."""
    return format_datetime(moment.astimezone(timezone.utc))
