"""How each system sees the people of the world: one View per record, carrying the noise real
systems hold (stale values, typos, nicknames, phone formats, duplicates, malformed fields), and
the activities (tickets, orders, calls, email events) linked to those records, orphans included.

Each system draws from streams of its own, ``random.Random(f"{seed}:{system}")`` for its records
and ``random.Random(f"{seed}:{system}:activities")`` for its activities, so that building one
system (or building them in another order) never changes another."""
from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

from .names import (FREE_EMAIL_DOMAINS, GIVEN_NAMES, NICKNAMES, STREET_TYPES, UNIT_PREFIXES,
                    US_PLACES, fold)
from .people import (PLACES_INTL, T_2024, T_END, Person, Population, Traits, day_start, iso,
                     pick, seconds, slug)

SYSTEMS = ("zendesk", "shopify", "twilio", "hubspot", "mailchimp")


@dataclass(frozen=True, slots=True)
class View:
    """One record of one system about one person, with that system's values as it holds them."""

    system: str
    source_id: str
    person_id: str
    given_name: str | None
    family_name: str | None
    full_name: str | None
    email: str | None
    phone: str | None
    address: dict | None
    birth_date: str | None
    consent: dict
    created_at: str
    updated_at: str
    malformed: str | None


@dataclass(frozen=True, slots=True)
class Activity:
    """A ticket, order, call or email event, linked to a record the way the system links it."""

    system: str
    source_id: str
    kind: str
    customer_ref: str
    person_id: str | None
    occurred_at: str
    attributes: dict


@dataclass(frozen=True)
class Profile:
    """What one system keeps about its customers and how much of it."""

    system: str
    reach: tuple[float, float]   # chance to know a person: (not a shopper, shopper)
    needs: str | None            # "email" / "phone": only people with one are candidates
    duplicates: float            # chance that a known person has a second record
    names: float                 # chance that a record carries a name
    email: float                 # chance that a record carries an email, when the person has one
    phone: float
    address: float
    birth_date: float
    channels: tuple[str, ...]    # consent channels the system tracks
    breakable: tuple[str, ...]   # fields a malformed record may have broken (never the key)
    activity: str
    activity_rate: float         # mean activities per record


PROFILES = {p.system: p for p in (
    Profile("zendesk", (0.30, 0.55), None, 0.03, 1.0, 0.93, 0.55, 0.0, 0.0, (),
            ("email", "phone"), "ticket", 1.5),
    Profile("shopify", (0.15, 0.90), None, 0.03, 0.97, 0.95, 0.50, 0.90, 0.0, ("email", "sms"),
            ("email", "phone"), "order", 2.0),
    # 35% of people, drawn from the 75% who have a phone (a little more, since a household's
    # landline has one directory entry only).
    Profile("twilio", (0.48, 0.48), "phone", 0.0, 0.75, 0.40, 1.0, 0.0, 0.0, (),
            ("email",), "call", 2.0),
    Profile("hubspot", (0.55, 0.55), None, 0.03, 0.95, 0.97, 0.50, 0.50, 0.30, ("email",),
            ("email", "phone"), "email_event", 1.0),
    # ~50% of people, drawn from the 85% who have an email, shoppers far more often.
    Profile("mailchimp", (0.40, 0.70), "email", 0.0, 0.85, 1.0, 0.25, 0.20, 0.15, ("email",),
            ("phone",), "email_event", 3.0),
)}
INDEXED = ("zendesk", "shopify", "hubspot")

STALE = 0.40                 # a person who changed a value: chance a system still holds the old one
NICKNAME = 0.08 * len(GIVEN_NAMES) / len(NICKNAMES)   # ~8% of all records, from those who have one
NAME_TYPO = 0.04
DUPLICATE_NAME_TYPO = 0.5
LOSE_ACCENTS = 0.30
ODD_CASE = 0.02
FAMILY_FIRST = 0.10          # zendesk "Family, Given"
EMAIL_CASE, EMAIL_PADDING = 0.05, 0.03
CONSENT_BEHIND = 0.25        # of histories with several events, systems that missed the latest
MALFORMED = 0.005
TIES = 0.10
ORPHANS = 0.02
CREATED_FROM, CREATED_TO = day_start(2018, 1, 1), day_start(2026, 6, 1)
CHANGED_FROM = CREATED_FROM + 86400   # a changed value was held by someone for a day at least

BAD_PHONES = ("call after 5pm", "ask for reception", "n/a - use email", "415-CALL-NOW",
              "see notes", "mornings only, ext. twelve")
AT_SIGNS = ("(at)", " at ", "[at]", "")
TICKET_SUBJECTS = ("Where is my order?", "Refund request", "Wrong size delivered",
                   "Cannot log in", "Change my address", "Cancel subscription",
                   "Damaged item", "Invoice copy", "Question about warranty", "Unsubscribe me")
TICKET_STATUSES = ("new", "open", "open", "pending", "solved", "solved", "solved", "closed")
CALL_STATUSES = ("completed",) * 8 + ("no-answer", "busy", "failed")
CURRENCY = {"US": "USD"} | {place[3]: place[7] for place in PLACES_INTL}


def source_id_for(system: str, index: int, view_email: str | None = None,
                  phone_e164: str | None = None) -> str:
    """The id a system gives its index-th record (mailchimp: of the email; twilio: the number)."""
    if system == "zendesk":
        return str(360000000000 + 7 * index)
    if system == "shopify":
        return f"gid://shopify/Customer/{7100000000 + index}"
    if system == "hubspot":
        return str(51000 + 3 * index)
    if system == "mailchimp":
        if not view_email:
            raise ValueError("a mailchimp id is the md5 of an email: view_email is required")
        return hashlib.md5(view_email.strip().lower().encode()).hexdigest()
    if system == "twilio":
        if not phone_e164:
            raise ValueError("a twilio entry is keyed by its number: phone_e164 is required")
        return phone_e164
    raise ValueError(f"unknown system {system!r}; expected one of {SYSTEMS}")


# --- noise --------------------------------------------------------------------------------

def typo(rng: random.Random, word: str) -> str:
    """One character swapped, dropped or doubled (never the first, which people rarely miss)."""
    if len(word) < 3:
        return word + word[-1:]
    i = 1 + int(rng.random() * (len(word) - 2))
    r = rng.random()
    if r < 1 / 3 and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if r < 2 / 3:
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def _names(rng: random.Random, person: Person, duplicate: bool) -> tuple[str, str]:
    given, family = person.given_name, person.family_name
    nicknames = NICKNAMES.get(given)
    if nicknames and rng.random() < NICKNAME:
        given = pick(rng, nicknames)
    if rng.random() < (DUPLICATE_NAME_TYPO if duplicate else NAME_TYPO):
        if rng.random() < 0.5:
            given = typo(rng, given)
        else:
            family = typo(rng, family)
    if not (given + family).isascii() and rng.random() < LOSE_ACCENTS:
        given, family = fold(given), fold(family)
    r = rng.random()
    if r < ODD_CASE / 2:
        given, family = given.upper(), family.upper()
    elif r < ODD_CASE:
        given, family = given.lower(), family.lower()
    return given, family


def _email_candidates(rng: random.Random, person: Person, traits: Traits,
                      duplicate: bool) -> list[str]:
    """The person's addresses in the order this record would try them (each system keeps an
    address on one record only, so a taken one falls through to the next)."""
    emails = list(person.emails)
    if duplicate:
        # A second account: signed up from work, with an old address, or mistyped the current one.
        others = emails + ([traits.work_email] if traits.work_email else [])
        rng.shuffle(others)
        if emails:
            local, domain = emails[0].split("@", 1)
            others.append(f"{typo(rng, local)}@{domain}")
        return others
    if len(emails) > 1 and rng.random() < STALE:
        emails.insert(0, emails.pop(1 + int(rng.random() * (len(emails) - 1))))
    return emails


def _dress_email(rng: random.Random, email: str) -> str:
    """The address as someone typed it into a form: odd case, stray spaces."""
    r = rng.random()
    if r < EMAIL_CASE / 2:
        email = email.upper()
    elif r < EMAIL_CASE:
        local, domain = email.split("@", 1)
        email = f"{local.capitalize()}@{domain.capitalize()}"
    if rng.random() < EMAIL_PADDING:
        email = pick(rng, (" ", "  ", "")) + email + pick(rng, (" ", "\t", "  "))
    return email


def _phone_candidates(rng: random.Random, person: Person) -> list[str]:
    phones = list(person.phones)
    if len(phones) > 1 and rng.random() < STALE:
        phones.insert(0, phones.pop(1 + int(rng.random() * (len(phones) - 1))))
    return phones


def format_phone(rng: random.Random, e164: str) -> str:
    """One of the ways people and forms write a number down."""
    if e164.startswith("+1"):
        a, e, n = e164[2:5], e164[5:8], e164[8:]
        return pick(rng, (f"({a}) {e}-{n}", f"+1 {a} {e} {n}", f"{a}{e}{n}", e164,
                          f"{a}.{e}.{n}", f"1-{a}-{e}-{n}"))
    code, national = _split_international(e164)
    lead = len(national) - 8
    grouped = f"{national[:lead]} {national[lead:-4]} {national[-4:]}"
    return pick(rng, (f"+{code} {grouped}", e164, f"00{code} {grouped}", f"+{code} (0){grouped}"))


_CALLING_CODES = sorted({place[4] for place in PLACES_INTL}, key=lambda code: (-len(code), code))


def _split_international(e164: str) -> tuple[str, str]:
    for code in _CALLING_CODES:
        if e164.startswith(code, 1):
            return code, e164[1 + len(code):]
    raise ValueError(f"no known calling code in {e164}")


def _dress_address(rng: random.Random, address: dict) -> dict:
    """Same place, other spelling: abbreviated street types, shouting, unit prefixes."""
    address = dict(address)
    head, _, last = address["line1"].rpartition(" ")
    if last in STREET_TYPES and rng.random() < 0.35:
        address["line1"] = f"{head} {pick(rng, STREET_TYPES[last])}"
    if address["line2"] and rng.random() < 0.3:
        address["line2"] = address["line2"].replace("Apt", pick(rng, UNIT_PREFIXES), 1)
    r = rng.random()
    if r < 0.05:
        address["line1"], address["city"] = address["line1"].upper(), address["city"].upper()
    elif r < 0.08:
        address["city"] = address["city"].lower()
    return address


def _heard_consent(rng: random.Random, profile: Profile, person: Person, email: str | None,
                   phone: str | None) -> dict:
    """Each system heard a prefix of the person's consent history; some missed the latest."""
    heard = {}
    for channel in profile.channels:
        events = person.consent.get(channel)
        if not events or (channel == "email" and not email) or (channel == "sms" and not phone):
            continue
        count = len(events)
        if count > 1 and rng.random() < CONSENT_BEHIND:
            count = 1 + int(rng.random() * (count - 1))
        status, at = events[count - 1]
        heard[channel] = {"status": status, "updated_at": at}
    return heard


# --- records --------------------------------------------------------------------------------

def _covered(rng: random.Random, profile: Profile,
             population: Population) -> list[tuple[int, bool]]:
    """(person index, is a duplicate) for every record the system holds, in person order."""
    entries = []
    not_shopper, shopper = profile.reach
    for i, (person, traits) in enumerate(zip(population.persons, population.traits)):
        if (profile.needs == "email" and not person.emails) or (
                profile.needs == "phone" and not person.phones):
            continue
        if rng.random() < (shopper if traits.shopper else not_shopper):
            entries.append((i, False))
            if rng.random() < profile.duplicates:
                entries.append((i, True))
    return entries


def _draft(rng: random.Random, profile: Profile, person: Person, traits: Traits,
           duplicate: bool, taken: set[str], holders: dict[str, str]) -> dict | None:
    """The record as a dict of View fields, or None when it has no key of its own: mailchimp's
    email is already another member's, or twilio's number is the household landline whose
    directory entry belongs to its first holder (`holders`: number -> first person_id)."""
    system = profile.system
    email = phone = None
    if rng.random() < profile.email:
        email = next((e for e in _email_candidates(rng, person, traits, duplicate)
                      if e not in taken), None)
    if system == "mailchimp" and email is None:
        return None
    if system == "twilio":
        phone = next((p for p in _phone_candidates(rng, person)
                      if holders[p] == person.person_id), None)
        if phone is None:
            return None
    elif person.phones and rng.random() < profile.phone:
        phone = _phone_candidates(rng, person)[0]
    if email is not None:
        taken.add(email)
    given = family = full = None
    if rng.random() < profile.names:
        given, family = _names(rng, person, duplicate)
    if system == "zendesk":
        full = f"{family}, {given}" if rng.random() < FAMILY_FIRST else f"{given} {family}"
        given = family = None
    address = None
    if person.addresses and rng.random() < profile.address:
        moved = len(person.addresses) > 1 and rng.random() < STALE
        address = _dress_address(rng, person.addresses[1 if moved else 0])
    birth = person.birth_date if rng.random() < profile.birth_date else None
    held = {"emails": (email, person.emails), "phones": (phone, person.phones),
            "addresses": (address and person.addresses[1 if moved else 0], person.addresses)}
    return {
        "system": system,
        "source_id": _key_id(system, email, phone),
        "person_id": person.person_id,
        "given_name": given,
        "family_name": family,
        "full_name": full,
        "email": email if email is None or system == "mailchimp" else _dress_email(rng, email),
        "phone": phone if phone is None or system == "twilio" else format_phone(rng, phone),
        "address": address,
        "birth_date": birth,
        "consent": _heard_consent(rng, profile, person, email, phone),
        "created_at": "",
        "updated_at": "",
        "malformed": None,
        "held": {field: value == values[0] for field, (value, values) in held.items()
                  if value is not None and len(values) > 1 and value in values},
    }


def _key_id(system: str, email: str | None, phone: str | None) -> str:
    # Indexed systems number their records later, in the order they were created (build_views).
    if system in INDEXED:
        return ""
    return source_id_for(system, 0, view_email=email, phone_e164=phone)


def _break_some(rng: random.Random, profile: Profile, drafts: list[dict],
                owners: list[Person]) -> None:
    """Break ~0.5% of records (at least 2 once there are 200): an email without "@", a phone
    in words. Never the system's key, so the record keeps its id."""
    count = round(len(drafts) * MALFORMED)
    if len(drafts) >= 200:
        count = max(count, 2)
    kinds = profile.breakable
    for n, i in enumerate(rng.sample(range(len(drafts)), count)):
        kind = kinds[n % len(kinds)]
        draft = drafts[i]
        if kind == "email":
            draft["email"] = _broken_email(rng, owners[i], draft["email"])
        else:
            draft["phone"] = pick(rng, BAD_PHONES)
        draft["malformed"] = kind


def _broken_email(rng: random.Random, person: Person, email: str | None) -> str:
    base = (email or "").strip().lower() or (person.emails[0] if person.emails else
                                             f"{slug(person.given_name)}.{slug(person.family_name)}"
                                             f"@{pick(rng, FREE_EMAIL_DOMAINS)}")
    local, domain = base.split("@", 1)
    return f"{local}{pick(rng, AT_SIGNS)}{domain}"


def _stamp(rng: random.Random, drafts: list[dict], changes: list[tuple[int | None, int | None]]) -> None:
    """created_at and updated_at. `changes` holds, per draft, when its person changed the values
    the record still holds old (the record was created before) and the values it holds new (it
    was created or updated after). updated_at is never before created_at or the consent the record
    heard, and ties the previous record's second ~10% of the time (bulk imports: the cursor-tie
    trap)."""
    created = [CREATED_FROM + int(rng.random() * (min(CREATED_TO, before or CREATED_TO) - CREATED_FROM))
               for before, _ in changes]
    floors = [max(c, T_2024, after or c, *(seconds(c["updated_at"]) for c in d["consent"].values()))
              for c, d, (_, after) in zip(created, drafts, changes)]
    updated = [f + int(rng.random() * (T_END - f + 1)) for f in floors]
    order = sorted(range(len(drafts)), key=updated.__getitem__)
    for prev, cur in zip(order, order[1:]):
        if rng.random() < TIES and updated[prev] >= floors[cur]:
            updated[cur] = updated[prev]
    for draft, c, u in zip(drafts, created, updated):
        draft["created_at"], draft["updated_at"] = iso(c), iso(u)


def changed_at(seed: int, person_id: str, field: str) -> int:
    """When the person took up their current value of `field` (emails, phones, addresses): a
    system that met them before may still hold the old one, and one that holds the new one met
    them, or heard from them, since. A stream of its own, so that every system sees the same day."""
    digest = hashlib.blake2b(f"{seed}:{person_id}:{field}".encode(), digest_size=8).digest()
    return CHANGED_FROM + (int.from_bytes(digest, "big") * (T_END - CHANGED_FROM) >> 64)


def _changes(seed: int, draft: dict, person: Person) -> tuple[int | None, int | None]:
    """(the earliest change of a value the record holds old, the latest of one it holds new)."""
    held = draft.pop("held")
    days = {field: changed_at(seed, person.person_id, field) for field in held}
    return (min((days[f] for f, new in held.items() if not new), default=None),
            max((days[f] for f, new in held.items() if new), default=None))


def _sort_key(system: str):
    if system == "twilio":
        return lambda draft: int(draft["source_id"][1:])
    return lambda draft: draft["source_id"]


def _first_holders(persons: list[Person]) -> dict[str, str]:
    holders: dict[str, str] = {}
    for person in persons:
        for phone in person.phones:
            holders.setdefault(phone, person.person_id)
    return holders


def build_views(system: str, seed: int, population: Population) -> list[View]:
    """Every record `system` holds, ordered by source id (numerically where it is a number)."""
    profile = PROFILES[system]
    rng = random.Random(f"{seed}:{system}")
    persons, traits = population.persons, population.traits
    taken: set[str] = set()
    holders = _first_holders(persons) if system == "twilio" else {}
    drafts, owners = [], []
    # Person order here decides who keeps a shared email: the first by person_id.
    for i, duplicate in _covered(rng, profile, population):
        draft = _draft(rng, profile, persons[i], traits[i], duplicate, taken, holders)
        if draft is not None:
            drafts.append(draft)
            owners.append(persons[i])
    _break_some(rng, profile, drafts, owners)
    _stamp(rng, drafts, [_changes(seed, d, o) for d, o in zip(drafts, owners)])
    if system in INDEXED:
        # Records were created in no particular person order; ids follow creation.
        drafts.sort(key=lambda draft: draft["created_at"])
        for index, draft in enumerate(drafts):
            draft["source_id"] = source_id_for(system, index)
    else:
        drafts.sort(key=_sort_key(system))
    return [View(**draft) for draft in drafts]


# --- activities -----------------------------------------------------------------------------

def _poisson(rng: random.Random, limit: float) -> int:
    # Knuth's method; limit is exp(-mean). Means here are small, so the loop is short.
    count, product = 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _orphan_ref(rng: random.Random, system: str, views: list[View], known: set[str]) -> str:
    """A customer reference that resolves to no record of the system."""
    if system in INDEXED:
        return source_id_for(system, len(views) + int(rng.random() * 5000))
    while True:
        if system == "twilio":
            # 555-01xx is reserved for fiction: no person of the world owns such a number.
            ref = f"+1{pick(rng, US_PLACES)[3]}55501{int(rng.random() * 100):02d}"
        else:
            ref = f"{rng.getrandbits(128):032x}"
        if ref not in known:
            return ref


def _attributes(rng: random.Random, kind: str, currency: str) -> dict:
    r = rng.random()
    if kind == "ticket":
        return {"subject": pick(rng, TICKET_SUBJECTS), "status": pick(rng, TICKET_STATUSES)}
    if kind == "order":
        return {"total": f"{5 + 295 * r * r:.2f}", "currency": currency}
    if kind == "call":
        status = pick(rng, CALL_STATUSES)
        duration = str(10 + int(r * 900)) if status == "completed" else "0"
        return {"direction": "inbound" if r < 0.7 else "outbound-api", "duration": duration,
                "status": status}
    return {"type": "open" if r < 0.6 else "click" if r < 0.9 else "bounce"}


def _activity_id(rng: random.Random, system: str, kind: str, n: int) -> str:
    if kind == "ticket":
        return str(5000001 + n)
    if kind == "order":
        return f"gid://shopify/Order/{9000001 + n}"
    if kind == "call":
        return f"CA{rng.getrandbits(128):032x}"
    return f"{system[:2]}-ev-{n + 1:09d}"


def build_activities(system: str, seed: int, views: list[View]) -> list[Activity]:
    """Activities of `system`, oldest first: ~rate per record, plus ~2% orphans."""
    profile = PROFILES[system]
    rng = random.Random(f"{seed}:{system}:activities")
    limit = math.exp(-profile.activity_rate)
    events = []
    for view in views:
        start = seconds(view.created_at)
        currency = CURRENCY.get((view.address or {}).get("country"), "USD")
        for _ in range(_poisson(rng, limit)):
            at = start + int(rng.random() * (T_END - start))
            events.append((at, view.source_id, view.person_id, currency))
    known = {view.source_id for view in views}
    for _ in range(max(2, round(len(events) * ORPHANS))):
        at = T_2024 + int(rng.random() * (T_END - T_2024))
        events.append((at, _orphan_ref(rng, system, views, known), None, "USD"))
    events.sort(key=lambda event: event[0])
    kind = profile.activity
    return [Activity(system, _activity_id(rng, system, kind, n), kind, ref, person_id, iso(at),
                     _attributes(rng, kind, currency))
            for n, (at, ref, person_id, currency) in enumerate(events)]
