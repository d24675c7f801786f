"""Checks canonical source records against the contract's JSON Schema and says what is wrong in words
that name the record and the field, with PII masked so the reason can go to logs and reports."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker

from canonical.pii import mask

SCHEMAS = Path(__file__).parent / "schema"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"field {self.field}: {self.message}"


def _format_checker() -> FormatChecker:
    # jsonschema's own "email" only looks for an '@'; a customer store needs a domain too. Padding
    # and case are the source's own typing, folded later by the reconciler, not a broken record.
    checker = FormatChecker()
    checker.checks("email")(lambda v: not isinstance(v, str) or bool(_EMAIL.match(v.strip())))
    checker.checks("date")(lambda v: not isinstance(v, str) or _parses(date.fromisoformat, v))
    checker.checks("date-time")(lambda v: not isinstance(v, str) or _parses(_rfc3339, v))
    return checker


def _rfc3339(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("no UTC offset")
    return parsed


def _parses(parse, value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


def _shown(error) -> str:
    if not isinstance(error.instance, str):
        return type(error.instance).__name__
    # Timestamps of changes are not PII and are what an operator needs to see; everything else is masked.
    return error.instance if error.validator_value == "date-time" else mask(error.instance)


@lru_cache(maxsize=4)
def validator(kind: str = "source_record") -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_format_checker())


def problems(record: dict, kind: str = "source_record") -> list[Problem]:
    """Every way the record breaks its contract (`source_record` or `activity`), sorted by field;
    empty when it is valid."""
    found = []
    for error in validator(kind).iter_errors(record):
        field = ".".join(str(p) for p in error.absolute_path) or "(record)"
        found.append(Problem(field, _describe(error)))
    return sorted(found, key=lambda p: p.field)


def _describe(error) -> str:
    if error.validator in ("required", "additionalProperties"):
        return error.message  # names keys only, never values
    shown = _shown(error)
    if error.validator == "format":
        return f"{shown!r} is not a valid {error.validator_value}"
    if error.validator == "pattern":
        return f"{shown!r} is not a valid {error.schema.get('title', 'value')}"
    return f"{shown!r} fails {error.validator} {error.validator_value!r}"
