"""The benchmark's seeding takes shortcuts for speed; its rows must still be exactly what the
service would have stored."""

from __future__ import annotations

from itertools import islice

from bench.seed import generate
from books_service.records import derived_fields


def test_seeded_rows_carry_the_services_own_derived_keys() -> None:
    for row in islice(generate(2000), 2000):
        expected = derived_fields(row)
        assert {key: row[key] for key in expected} == expected, row["title"]
