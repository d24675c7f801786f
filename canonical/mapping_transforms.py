"""The named transforms a mapping may use, each with its reverse for fields that are written back.
Mappings name them; they never carry code of their own."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Transform:
    forward: Callable[[object], object]
    reverse: Callable[[object], object]


def _identity(value):
    return value


def _to_string(value):
    return None if value is None else str(value)


def _one_item_list(value):
    return [value] if value not in (None, "") else []


def _first_item(value):
    return value[0] if value else None


def _negate(value):
    return None if value is None else not value


TRANSFORMS: dict[str, Transform] = {
    "identity": Transform(_identity, _identity),
    "to_string": Transform(_to_string, _identity),
    "one_item_list": Transform(_one_item_list, _first_item),
    "negate": Transform(_negate, _negate),
}
