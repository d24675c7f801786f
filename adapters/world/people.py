"""People and households: the ground truth of the generated world.

Every system's records are noisy views of these people (see views.py). All of it comes from one
random stream, ``random.Random(f"{seed}:people")``, so a (seed, size) pair always yields the same
people. The time helpers live here too: timestamps are seconds since 2015-01-01 UTC turned into
ISO strings by table look-up, which is fast and never reads the clock."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from .names import (COMMON_FAMILY_NAMES, COMPANY_EMAIL_DOMAINS, FAMILY_NAMES,
                    FREE_EMAIL_DOMAINS, GIVEN_NAMES, INTL_PLACES, STREET_NAMES, STREET_TYPES,
                    US_PLACES, fold)

_EPOCH = date(2015, 1, 1).toordinal()
_DAYS = tuple(date.fromordinal(n).isoformat() for n in range(_EPOCH, date(2027, 1, 1).toordinal()))
_DAY_NUMBER = {day: n for n, day in enumerate(_DAYS)}


def day_start(year: int, month: int, day: int) -> int:
    """Seconds since 2015-01-01 UTC at midnight of that day."""
    return (date(year, month, day).toordinal() - _EPOCH) * 86400


T_2024 = day_start(2024, 1, 1)
T_END = day_start(2026, 6, 30) + 86399


def iso(seconds: int) -> str:
    """"YYYY-MM-DDTHH:MM:SSZ" for seconds since 2015-01-01 UTC."""
    day, rest = divmod(seconds, 86400)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"{_DAYS[day]}T{hour:02d}:{minute:02d}:{second:02d}Z"


def seconds(timestamp: str) -> int:
    """The inverse of iso()."""
    return (_DAY_NUMBER[timestamp[:10]] * 86400 + int(timestamp[11:13]) * 3600
            + int(timestamp[14:16]) * 60 + int(timestamp[17:19]))


def pick(rng: random.Random, items):
    # Faster than rng.choice, and the generator draws hundreds of thousands of these.
    return items[int(rng.random() * len(items))]


@dataclass(frozen=True, slots=True)
class Person:
    """One real customer. Values are clean; the systems hold noisy, sometimes stale copies."""

    person_id: str
    given_name: str
    family_name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    addresses: tuple[dict, ...]
    birth_date: str | None
    household_id: str | None
    consent: dict

    def current(self) -> dict:
        """The values a perfect reconciliation would end up with."""
        return {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "email": self.emails[0] if self.emails else None,
            "phone": self.phones[0] if self.phones else None,
            "address": dict(self.addresses[0]) if self.addresses else None,
            "birth_date": self.birth_date,
            "consent": {channel: events[-1][0] for channel, events in self.consent.items()},
        }


@dataclass(frozen=True, slots=True)
class Traits:
    """What the generator knows about a person beyond any record: it shapes which systems know
    them and what their duplicate records look like."""

    shopper: bool            # buys online: likelier to be in shopify, mailchimp and zendesk
    work_email: str | None   # never a main address; duplicates ("signed up from work") use it


@dataclass(frozen=True)
class Population:
    persons: list[Person]
    traits: list[Traits]


HOUSEHOLD_START = 0.033      # per drawn unit: gives ~8% of people in households of 2-4
HOUSEHOLD_SIZES = (2,) * 12 + (3,) * 5 + (4,) * 3
SAME_FAMILY_NAME = 0.7       # household members who share the first member's family name
FAMILY_EMAIL = 0.02          # households where two members use one email address
HAS_EMAIL, CHANGED_EMAIL = 0.85, 0.15 / 0.85
HAS_PHONE, CHANGED_PHONE = 0.75, 0.10 / 0.75
MOVED = 0.20
KNOWN_BIRTH_DATE = 0.60
SMS_HISTORY = 0.6            # of people with a phone, those who were ever asked about SMS
SHOPPER = 0.6
WORK_EMAIL = 0.15
US_SHARE = 0.9

# A place: (city, region, postcode, country, calling code, area code or leading digits,
# street template or None for US-style "<n> <name> <type>", currency).
PLACES_US = tuple((city, state, zip_code, "US", "1", area, None, "USD")
                  for city, state, zip_code, area in US_PLACES)
PLACES_INTL = INTL_PLACES
_NATIONAL_DIGITS = {"IE": 9, "AU": 9, "FR": 9, "ES": 9, "PL": 9, "NL": 9, "SE": 9, "KR": 9}
_FAMILY_DRAW = COMMON_FAMILY_NAMES * 4 + FAMILY_NAMES
_STREET_TYPE_NAMES = tuple(STREET_TYPES)
_LOCAL_PARTS = ("{g}.{f}", "{g}{f}", "{i}{f}", "{g}.{f}{yy}", "{g}_{f}", "{f}.{g}", "{g}{n}",
                "{i}.{f}{n}", "{g}{f}{yy}")
_BIRTH_FROM = date(1940, 1, 1).toordinal()
_BIRTH_SPAN = date(2006, 12, 31).toordinal() - _BIRTH_FROM


def slug(name: str) -> str:
    """A name as it appears in an email address: ASCII letters and digits only."""
    return "".join(c for c in fold(name).lower() if c.isascii() and c.isalnum())


class _Registry:
    """Emails and phone numbers already handed out: unrelated people never share one."""

    def __init__(self) -> None:
        self.emails: set[str] = set()
        self.phones: set[str] = set()


def new_email(rng: random.Random, used: set[str], given: str, family: str,
              domains: tuple[str, ...]) -> str:
    g, f = slug(given), slug(family)
    local = pick(rng, _LOCAL_PARTS).format(g=g, f=f, i=g[:1], yy=f"{int(rng.random() * 100):02d}",
                                           n=int(rng.random() * 1000))
    domain = pick(rng, domains)
    email = f"{local}@{domain}"
    while email in used:
        email = f"{local}{int(rng.random() * 10000)}@{domain}"
    used.add(email)
    return email


def _new_phone(rng: random.Random, used: set[str], place: tuple) -> str:
    country, code, lead = place[3], place[4], place[5]
    while True:
        if code == "1":
            # Exchange 555 stays free: orphan calls come from 555-01xx, which nobody owns.
            exchange = 200 + int(rng.random() * 800)
            if exchange == 555:
                continue
            number = f"+1{lead}{exchange}{int(rng.random() * 10000):04d}"
        else:
            rest = _NATIONAL_DIGITS.get(country, 10) - len(lead)
            number = f"+{code}{lead}{int(rng.random() * 10 ** rest):0{rest}d}"
        if number not in used:
            used.add(number)
            return number


def _place(rng: random.Random) -> tuple:
    return pick(rng, PLACES_US) if rng.random() < US_SHARE else pick(rng, PLACES_INTL)


def _new_address(rng: random.Random, place: tuple) -> dict:
    city, region, postcode, country, _code, _lead, street, _currency = place
    if street is None:
        number = 1 + int(rng.random() * 9899)
        line1 = f"{number} {pick(rng, STREET_NAMES)} {pick(rng, _STREET_TYPE_NAMES)}"
    else:
        line1 = street.format(n=1 + int(rng.random() * 199))
    line2 = f"Apt {1 + int(rng.random() * 40)}{pick(rng, 'ABCD')}" if rng.random() < 0.2 else ""
    return {"line1": line1, "line2": line2, "city": city, "region": region,
            "postcode": postcode, "country": country}


def _identity(rng: random.Random, reg: _Registry, place: tuple, family: str | None = None) -> dict:
    """Name, contact points and addresses of one person, newest first."""
    given = pick(rng, GIVEN_NAMES)
    family = family or pick(rng, _FAMILY_DRAW)
    emails: tuple[str, ...] = ()
    if rng.random() < HAS_EMAIL:
        emails = (new_email(rng, reg.emails, given, family, _personal_domains(rng)),)
        if rng.random() < CHANGED_EMAIL:
            emails += (new_email(rng, reg.emails, given, family, FREE_EMAIL_DOMAINS),)
    phones: tuple[str, ...] = ()
    if rng.random() < HAS_PHONE:
        phones = (_new_phone(rng, reg.phones, place),)
        if rng.random() < CHANGED_PHONE:
            phones += (_new_phone(rng, reg.phones, place),)
    addresses = (_new_address(rng, place),)
    if rng.random() < MOVED:
        # Most moves stay in town; the older address is the one left behind.
        addresses += (_new_address(rng, place if rng.random() < 0.7 else _place(rng)),)
    birth_date = None
    if rng.random() < KNOWN_BIRTH_DATE:
        birth_date = date.fromordinal(_BIRTH_FROM + int(rng.random() * _BIRTH_SPAN)).isoformat()
    return {"given_name": given, "family_name": family, "emails": emails, "phones": phones,
            "addresses": addresses, "birth_date": birth_date, "household_id": None}


def _personal_domains(rng: random.Random) -> tuple[str, ...]:
    # A few people give their employer's address as their main one.
    return COMPANY_EMAIL_DOMAINS if rng.random() < 0.06 else FREE_EMAIL_DOMAINS


def _household(rng: random.Random, reg: _Registry, size: int, household_id: str) -> list[dict]:
    """Members who share the landline (now their current phone) and the address history."""
    place = _place(rng)
    first = _identity(rng, reg, place)
    landline = _new_phone(rng, reg.phones, place)
    members = [first]
    for _ in range(size - 1):
        family = first["family_name"] if rng.random() < SAME_FAMILY_NAME else None
        members.append(_identity(rng, reg, place, family))
    for member in members:
        member["phones"] = (landline,) + member["phones"][1:]
        member["addresses"] = first["addresses"]
        member["household_id"] = household_id
    if first["emails"] and rng.random() < FAMILY_EMAIL:
        second = members[1]
        second["emails"] = (first["emails"][0],) + second["emails"][1:]
    return members


def _consent_history(rng: random.Random) -> tuple[tuple[str, str], ...]:
    """1-3 alternating events over 2024 to mid-2026: subscribe, unsubscribe, resubscribe."""
    r = rng.random()
    count = 1 if r < 0.6 else 2 if r < 0.9 else 3
    times = sorted(T_2024 + int(rng.random() * (T_END - T_2024)) for _ in range(count))
    subscribed = rng.random() < 0.8
    events = []
    for t in times:
        events.append(("subscribed" if subscribed else "unsubscribed", iso(t)))
        subscribed = not subscribed
    return tuple(events)


def _consent(rng: random.Random, fields: dict) -> dict:
    consent = {}
    if fields["emails"]:
        consent["email"] = _consent_history(rng)
    if fields["phones"] and rng.random() < SMS_HISTORY:
        consent["sms"] = _consent_history(rng)
    return consent


def _traits(rng: random.Random, reg: _Registry, fields: dict) -> Traits:
    work = None
    if rng.random() < WORK_EMAIL:
        work = new_email(rng, reg.emails, fields["given_name"], fields["family_name"],
                         COMPANY_EMAIL_DOMAINS)
    return Traits(shopper=rng.random() < SHOPPER, work_email=work)


def build_population(seed: int, size: int) -> Population:
    """`size` people, person_id "p0000001" upwards, households kept next to each other."""
    rng = random.Random(f"{seed}:people")
    reg = _Registry()
    persons: list[Person] = []
    traits: list[Traits] = []
    households = 0
    while len(persons) < size:
        room = size - len(persons)
        if room >= 2 and rng.random() < HOUSEHOLD_START:
            households += 1
            members = _household(rng, reg, min(room, pick(rng, HOUSEHOLD_SIZES)),
                                 f"h{households:06d}")
        else:
            members = [_identity(rng, reg, _place(rng))]
        for fields in members:
            person_id = f"p{len(persons) + 1:07d}"
            persons.append(Person(person_id=person_id, consent=_consent(rng, fields), **fields))
            traits.append(_traits(rng, reg, fields))
    return Population(persons, traits)
