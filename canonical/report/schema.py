"""The report's JSON Schema (draft 2020-12) and the check that a report meets it."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker

SCHEMA_PATH = Path(__file__).with_name("report.schema.json")


@lru_cache(maxsize=1)
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def errors(report: dict) -> list[str]:
    """Every way the report breaks its schema, as "path: message"; empty when it is valid."""
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(report)'}: {e.message}"
            for e in sorted(validator().iter_errors(report), key=lambda e: [str(p) for p in e.absolute_path])]
