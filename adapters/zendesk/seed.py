"""Deterministic seed data for the Zendesk sandbox: Zendesk-shaped end-users.

Everything is derived from ``random.Random(seed)`` so that a seed and a customer count
always produce the same users, byte for byte. The data is deliberately untidy the way
real helpdesk data is: names in two orders, phones in many formats, missing emails and
phones, shared ``updated_at`` seconds (bulk imports) and a few malformed records.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import datetime, timezone

GIVEN_NAMES = [
    "Maria", "James", "Ana", "John", "Sofia", "Robert", "Lucia", "Michael", "Emma", "David",
    "Olivia", "William", "Ava", "Richard", "Isabella", "Joseph", "Mia", "Thomas", "Charlotte",
    "Daniel", "Amelia", "Matthew", "Harper", "Anthony", "Evelyn", "Mark", "Abigail", "Paul",
    "Emily", "Steven", "Elizabeth", "Andrew", "Sara", "Kenji", "Yuki", "Wei", "Mei", "Arjun",
    "Priya", "Omar", "Fatima", "Ahmed", "Leila", "Ivan", "Olga", "Pierre", "Chloé", "Zoë",
    "José", "Björn", "Søren", "Ngozi", "Chidi", "Mateo", "Valentina", "Hugo", "Inès", "Łukasz",
    "Renée", "Noah",
]

FAMILY_NAMES = [
    "Garcia", "Smith", "Lima", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
    "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris",
    "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
    "Wright", "Scott", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Tanaka", "Suzuki", "Chen", "Wang", "Patel", "Sharma", "Khan", "Okafor", "Müller",
    "Schröder", "Núñez", "O'Brien", "Brzęczyszczykiewicz", "Ødegård", "da Silva",
]

DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com", "corp.example"]
TIME_ZONES = [
    "Eastern Time (US & Canada)", "Central Time (US & Canada)", "Pacific Time (US & Canada)",
    "London", "Berlin", "Madrid", "Sao Paulo", "Tokyo", "Mumbai",
]
TAG_POOL = ["vip", "newsletter", "b2b", "churn_risk", "beta", "wholesale", "support_plus"]
BAD_PHONES = ["call after 5pm", "ask for ext. nine", "see email", "mobile: unknown"]

ID_BASE = 360000000000
START_EPOCH = int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp())
END_EPOCH = int(datetime(2026, 6, 30, tzinfo=timezone.utc).timestamp())


def iso(epoch: int) -> str:
    """Zendesk's timestamp format: UTC, second granularity, trailing Z."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ascii_slug(text: str) -> str:
    # Email local parts stay ASCII even for "Zoë" or "Łukasz", as most mail systems force.
    decomposed = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
    decomposed = decomposed.replace("ø", "o").replace("Ø", "O")
    kept = "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c == " "))
    return kept.lower().replace(" ", "")


def _phone(rng: random.Random) -> str:
    area, exchange, line = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
    formats = [
        f"({area}) {exchange}-{line:04d}",
        f"+1 {area} {exchange} {line:04d}",
        f"{area}{exchange}{line:04d}",
        f"+1{area}{exchange}{line:04d}",
        f"{area}.{exchange}.{line:04d}",
    ]
    return rng.choice(formats)


def _unique_email(rng: random.Random, given: str, family: str, used: set[str]) -> str:
    local = f"{_ascii_slug(given)}.{_ascii_slug(family)}"
    domain = rng.choice(DOMAINS)
    email, n = f"{local}@{domain}", 1
    while email in used:
        n += 1
        email = f"{local}{n}@{domain}"
    used.add(email)
    return email


def _timestamps(rng: random.Random, previous_updated: int | None) -> tuple[int, int]:
    # About one user in ten shares the previous user's updated_at second, like a bulk
    # import would, so that cursor ties at page boundaries actually occur.
    if previous_updated is not None and rng.random() < 0.1:
        created = rng.randint(START_EPOCH, previous_updated)
        return created, previous_updated
    created = rng.randint(START_EPOCH, END_EPOCH)
    return created, rng.randint(created, END_EPOCH)


def _user(rng: random.Random, index: int, used_emails: set[str], created: int, updated: int) -> dict:
    given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
    name = f"{family}, {given}" if rng.random() < 0.06 else f"{given} {family}"
    email = None if rng.random() < 0.08 else _unique_email(rng, given, family, used_emails)
    phone = None if rng.random() < 0.3 else _phone(rng)
    return {
        "id": ID_BASE + index * 7 + rng.randint(0, 6),
        "name": name,
        "email": email,
        "phone": phone,
        "external_id": None,
        "role": "end-user",
        "verified": rng.random() < 0.7,
        "active": True,
        "suspended": False,
        "tags": sorted(rng.sample(TAG_POOL, rng.randint(0, 2))),
        "user_fields": {},
        "organization_id": None,
        "time_zone": rng.choice(TIME_ZONES),
        "locale": "en-US",
        "created_at": iso(created),
        "updated_at": iso(updated),
    }


def _malformed_count(customers: int) -> int:
    share = round(customers * 0.005)
    return max(2, share) if customers >= 20 else share


def _break_record(rng: random.Random, user: dict, field: str) -> None:
    if field == "email":
        # Keeping the original local part keeps the broken address unique.
        local = user["email"].split("@")[0] if user["email"] else f"user{user['id']}"
        user["email"] = f"{local}(at){rng.choice(DOMAINS)}"
    else:
        user["phone"] = rng.choice(BAD_PHONES)


def seed_users(seed: int, customers: int) -> tuple[list[dict], dict[int, str]]:
    """Return ``customers`` users and ``{user_id: malformed field name}`` for the broken ones."""
    rng = random.Random(seed)
    users: list[dict] = []
    used_emails: set[str] = set()
    previous_updated: int | None = None
    for index in range(customers):
        created, previous_updated = _timestamps(rng, previous_updated)
        users.append(_user(rng, index, used_emails, created, previous_updated))
    malformed: dict[int, str] = {}
    for n, index in enumerate(sorted(rng.sample(range(customers), _malformed_count(customers)))):
        field = "email" if n % 2 == 0 else "phone"
        _break_record(rng, users[index], field)
        malformed[users[index]["id"]] = field
    return users, malformed
