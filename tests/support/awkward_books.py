"""Generated books that use every field with the awkward values real catalogs have (accents,
other scripts, several authors, 979 ISBNs, formulas, quotes, commas, new lines), for the export
tests. Each test passes its own :class:`Values`: the golden files of
tests/integration/test_export_output.py depend on its books exactly, so the order in which the
random generator is called here must not change."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Values:
    """What the generated books are made of."""

    words: tuple[str, ...]
    names: tuple[str, ...]
    # Drawn for each book: how many of ``names`` are its authors.
    author_counts: tuple[int, ...]
    languages: tuple[str | None, ...]
    subjects: tuple[str, ...]
    series_indexes: tuple[float, ...]
    earliest_year: int  # of the books that have a year and no date
    earliest_day: int  # of a full published date
    # Whether one book in eight has a published date of a year and a month only.
    month_dates: bool
    # The description of one book in six: ``{word}`` a drawn word, ``{i}`` the book's number.
    description: str
    cover_query: str  # after each cover URL


def generated_books(n: int, seed: int, values: Values) -> list[dict[str, Any]]:
    """``n`` books as API bodies (absent fields left out), the same ones for the same seed."""
    rng = random.Random(seed)
    words, names = values.words, values.names
    books = []
    for i in range(n):
        book: dict[str, Any] = {
            "title": f"{rng.choice(words).strip('-+=@')} {i} {rng.choice(words)}".strip(),
            "authors": rng.sample(names, rng.choice(values.author_counts)),
            "copies": rng.randint(0, 9),
        }
        if i % 10 < 7:
            body = f"9791{i:08d}" if i % 10 == 0 else f"978{i:09d}"  # 979-0 is music
            total = sum((1 if k % 2 == 0 else 3) * int(d) for k, d in enumerate(body))
            book["isbn"] = body + str((10 - total % 10) % 10)
        if i % 3 == 0:
            book["subtitle"] = f"a {rng.choice(words)} subtitle"
        if i % 2 == 0:
            book["publisher"] = f"Editora {rng.choice(words)}"
        if i % 4 == 0:
            book["published_date"] = (
                f"{rng.randint(1500, 2025)}-{rng.randint(1, 12):02d}"
                f"-{rng.randint(values.earliest_day, 28):02d}"
            )
        elif i % 4 == 1:
            book["published_year"] = rng.randint(values.earliest_year, 2025)
        elif i % 8 == 2 and values.month_dates:
            book["published_date"] = f"{rng.randint(1000, 2025)}-{rng.randint(1, 12):02d}"
        if i % 5 == 0:
            book["page_count"] = rng.randint(1, 2000)
        book["language"] = rng.choice(values.languages)
        book["subjects"] = rng.sample(values.subjects, rng.randint(0, 2))
        if i % 6 == 0:
            book["description"] = values.description.format(word=rng.choice(words), i=i)
        if i % 7 == 0:
            book["series"] = f"Série {rng.choice(words)}"
            book["series_index"] = rng.choice(values.series_indexes)
        if i % 8 == 0:
            book["cover_url"] = f"https://covers.example.org/{i}.jpg{values.cover_query}"
        books.append({k: v for k, v in book.items() if v is not None})
    return books
