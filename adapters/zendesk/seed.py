"""The Zendesk sandbox's seed: the shared world's zendesk views as Zendesk end-users, and its tickets.

Zendesk keeps one name field, one email and one phone per user, so a view's `full_name` (which may be
"Family, Given"), email and phone land there exactly as the world typed them, malformed ones included.
"""
from __future__ import annotations

import zlib
from datetime import datetime, timezone
from functools import lru_cache

from adapters.world import World

TIME_ZONES = ["Eastern Time (US & Canada)", "Central Time (US & Canada)", "Pacific Time (US & Canada)",
              "London", "Berlin", "Madrid", "Sao Paulo", "Tokyo", "Mumbai"]
TAGS = ["vip", "newsletter", "b2b", "churn_risk", "beta", "wholesale", "support_plus"]
TICKET_STATUSES = ["new", "open", "pending", "solved", "closed"]


def iso(epoch: int) -> str:
    """Zendesk's timestamp format: UTC, second granularity, trailing Z."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=4)
def _world(seed_value: int, customers: int) -> World:
    return World(seed_value, customers)


def seed(seed_value: int, customers: int) -> tuple[list[dict], list[dict]]:
    """(users, tickets) for a world of `customers` people."""
    world = _world(seed_value, customers)
    return _users(world.views("zendesk")), [_ticket(a) for a in world.activities("zendesk")]


def seed_users(seed_value: int, customers: int) -> tuple[list[dict], dict[int, str]]:
    """The users, and {user id: field} for the ones the world broke on purpose."""
    views = _world(seed_value, customers).views("zendesk")
    return _users(views), {int(v.source_id): v.malformed for v in views if v.malformed}


def _users(views) -> list[dict]:
    # Zendesk stores addresses trimmed and lower-cased, and refuses a second user with an address in
    # use: a duplicate person or a shared family address exists there without an email.
    users, taken = [], set()
    for view in views:
        user = _user(view)
        if user["email"] and view.malformed != "email":
            user["email"] = user["email"].strip().lower()
        key = (user["email"] or "").strip().lower()
        if key in taken:
            user["email"] = None
        taken.add(key)
        users.append(user)
    return users


def _pick(options: list, key: str, salt: str):
    # Stable per record without a shared RNG, so one user's extras never shift another's.
    return options[zlib.crc32(f"{salt}:{key}".encode()) % len(options)]


def _user(view) -> dict:
    name = view.full_name or " ".join(p for p in (view.given_name, view.family_name) if p) or "Unknown"
    return {
        "id": int(view.source_id), "name": name, "email": view.email, "phone": view.phone, "external_id": None,
        "role": "end-user", "verified": view.email is not None, "active": True, "suspended": False,
        "tags": [_pick(TAGS, view.source_id, "tag")] if zlib.crc32(view.source_id.encode()) % 3 == 0 else [],
        "user_fields": {}, "organization_id": None, "time_zone": _pick(TIME_ZONES, view.source_id, "tz"),
        "locale": "en-US", "created_at": view.created_at, "updated_at": view.updated_at,
    }


def _ticket(activity) -> dict:
    requester = int(activity.customer_ref) if activity.customer_ref.isdigit() else 0
    return {
        "id": int(activity.source_id), "requester_id": requester, "submitter_id": requester,
        "subject": activity.attributes.get("subject", "Help"), "status": activity.attributes.get("status", "open"),
        "created_at": activity.occurred_at, "updated_at": activity.occurred_at,
        "generated_timestamp": int(datetime.fromisoformat(activity.occurred_at.replace("Z", "+00:00")).timestamp()),
    }
