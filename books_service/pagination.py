"""Keyset pagination: a page is "the next N after this position", never "skip M rows", so page
10,000 costs what page 1 costs. A cursor is the position (the sort values of a row and its id)
with a direction, encoded opaquely; ``last`` is the end of the list read backwards."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from common.errors import ApiError


class InvalidCursor(ApiError):
    status = 422
    type = "/problems/validation-error"
    title = "Invalid request"

    def __init__(self) -> None:
        super().__init__(
            "The cursor is not valid: use the links of the Link header as they are.",
            errors=[{"field": "cursor", "message": "is not a valid cursor", "type": "cursor"}],
        )


@dataclass(frozen=True)
class SortKey:
    """One ordering term: an expression, its direction, and how its value looks in JSON."""

    expression: ColumnElement[Any]
    descending: bool
    is_datetime: bool = False


@dataclass(frozen=True)
class Cursor:
    values: tuple[Any, ...] | None  # None: from the very end ("last")
    backwards: bool

    def encode(self) -> str:
        payload = {"v": list(self.values) if self.values is not None else None, "b": self.backwards}
        raw = json.dumps(payload, separators=(",", ":"), default=_json_value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, token: str, keys: Sequence[SortKey]) -> Cursor:
        try:
            payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            values, backwards = payload["v"], payload["b"]
            if not isinstance(backwards, bool):
                raise TypeError
            if values is None:
                return cls(None, backwards)
            if not isinstance(values, list) or len(values) != len(keys):
                raise TypeError
            parsed = tuple(
                _parse_value(value, key) for value, key in zip(values, keys, strict=True)
            )
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            raise InvalidCursor() from None
        return cls(parsed, backwards)


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _parse_value(value: Any, key: SortKey) -> Any:
    if key.is_datetime:
        if not isinstance(value, str):
            raise TypeError
        return datetime.fromisoformat(value)
    if isinstance(value, bool) or (value is not None and not isinstance(value, str | int | float)):
        raise TypeError
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise OverflowError
    return value


def after(keys: Sequence[SortKey], values: Sequence[Any], backwards: bool) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order ``keys`` (before, when going backwards),
    as (k1 > v1) OR (k1 = v1 AND k2 > v2) OR …, which also works for mixed directions."""
    clauses = []
    for i, key in enumerate(keys):
        forward = key.descending == backwards  # ascending & forwards, or descending & backwards
        beyond = key.expression > values[i] if forward else key.expression < values[i]
        equal_before = [keys[j].expression == values[j] for j in range(i)]
        clauses.append(and_(*equal_before, beyond))
    return or_(*clauses)


def order_by(keys: Sequence[SortKey], backwards: bool) -> list[ColumnElement[Any]]:
    return [
        key.expression.desc() if key.descending != backwards else key.expression.asc()
        for key in keys
    ]
