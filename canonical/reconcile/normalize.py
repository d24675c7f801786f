"""Normalization of the values that matching compares. The stored canonical records keep the source's
own values; only the comparison sees these: E.164 phones, folded emails, folded and parsed names,
address tokens, ISO dates. Every function returns None for a value that is not usable at all."""
from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache

import phonenumbers

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SPELLED_AT = re.compile(r"\s*[\[(]at[\])]\s*|\s+at\s+")  # 'ana.lima(at)gmail.com', 'ana.lima at gmail.com'
_NOT_DIGIT = re.compile(r"\D")
_EXTENSION = re.compile(r"\s*(?:ext\.?|x|#)\s*\d+\s*$", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")
_INTERNATIONAL = re.compile(r"^\+[1-9][0-9 ().\-]{6,22}$")
STREET_WORDS = {
    "st": "street", "str": "street", "ave": "avenue", "av": "avenue", "rd": "road", "blvd": "boulevard",
    "dr": "drive", "ln": "lane", "ct": "court", "pl": "place", "sq": "square", "hwy": "highway", "pkwy": "parkway",
    "ter": "terrace", "terr": "terrace", "cir": "circle",
    "apt": "unit", "apartment": "unit", "suite": "unit", "ste": "unit",
    "n": "north", "s": "south", "e": "east", "w": "west",
}


def email(value: str | None) -> str | None:
    """Case-, width- and whitespace-folded; None when it is not an address at all."""
    if not value:
        return None
    folded = unicodedata.normalize("NFKC", value).strip().casefold()
    return folded if _EMAIL.match(folded) else None


def email_for_matching(value: str | None) -> str | None:
    """email(), and an address written out against spam harvesters ('ana.lima(at)gmail.com',
    'ana.lima at gmail.com') read as the address it spells. For comparison only: what a system holds
    and is written stays as it is."""
    if value and "@" not in value:
        value = _SPELLED_AT.sub("@", unicodedata.normalize("NFKC", value).strip().casefold(), count=1)
    return email(value)


@lru_cache(maxsize=262144)
def phone(value: str | None, region: str = "US") -> str | None:
    """E.164 without any extension; None when no valid number can be read."""
    if not value:
        return None
    text = _EXTENSION.sub("", value.strip())
    digits = _NOT_DIGIT.sub("", text)
    if not text.startswith(("+", "00")) and (len(digits) == 10 or (len(digits) == 11 and digits[0] == "1")):
        national = digits[-10:]  # the common North American shapes, without the parser's cost
        return f"+1{national}" if national[0] in "23456789" and national[3] in "23456789" else None
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+") and _INTERNATIONAL.match(text):
        # Already international in one of the plain written shapes: E.164 is its digits, and the
        # full parser (the slowest step of reading a million records) would only agree.
        national = _NOT_DIGIT.sub("", text.replace("(0)", ""))
        if 8 <= len(national) <= 15 and national[0] != "0":
            return "+" + national
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=262144)
def fold(text: str | None) -> str:
    """Lower-case ASCII letters, digits, spaces and hyphens only: accents dropped, case folded. The
    letters Unicode does not decompose are spelled out by hand ('Yılmaz' is Yilmaz, not 'Y lmaz')."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ł", "l").replace("Ł", "l")
                                       .replace("ø", "o").replace("Ø", "o").replace("æ", "ae").replace("đ", "d")
                                       .replace("ı", "i").replace("œ", "oe").replace("Œ", "oe"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^a-z0-9\- ]", " ", plain).split())


def split_full_name(full: str | None) -> tuple[str, str]:
    """'Lima, Ana' and 'Ana Lima' -> ('Ana', 'Lima'); one word is a given name."""
    if not full or not full.strip():
        return "", ""
    if "," in full:
        family, _, given = full.partition(",")
        return given.strip(), family.strip()
    words = full.split()
    return words[0], " ".join(words[1:])


def names(record: dict) -> tuple[str, str]:
    """(given, family), folded, from the split fields or else the full name."""
    given, family = record.get("given_name") or "", record.get("family_name") or ""
    if not (given or family):
        given, family = split_full_name(record.get("full_name"))
    return fold(given), fold(family)


def given_core(given: str) -> str:
    """The first word of a folded given name, the part nicknames and initials refer to."""
    return given.split(" ", 1)[0].replace("-", "") if given else ""


@lru_cache(maxsize=262144)
def street_line(line: str | None) -> str:
    """Address line tokens, case-folded, punctuation dropped, street types spelled out. '#' is the
    unit designator it stands for, so '# 12A', 'Apt #12A' and 'Unit 12A' are one unit."""
    words = [STREET_WORDS.get(w, w) for w in _WORD.findall(fold((line or "").replace("#", " unit ")))]
    return " ".join(w for i, w in enumerate(words) if not (w == "unit" and i and words[i - 1] == "unit"))


def house_number(line: str) -> str:
    """The first number of a street line ('12b Main Street' -> '12'), or ''."""
    found = re.search(r"\d+", line)
    return found.group(0) if found else ""


def postcode(value: str | None, country: str | None = None) -> str:
    """Upper-case, no spaces or dashes; US ZIP+4 cut to its five digits."""
    code = re.sub(r"[\s\-]", "", (value or "")).upper()
    return code[:5] if (country or "US").upper() == "US" and code[:5].isdigit() else code


def birth_date(value: str | None) -> str | None:
    """ISO YYYY-MM-DD when it is a real date, else None."""
    try:
        return date.fromisoformat(value[:10]).isoformat() if value else None
    except ValueError:
        return None
