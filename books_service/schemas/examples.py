"""The examples the OpenAPI document shows for the Books Service's bodies (Swagger UI fills its
"try it out" forms with them; a test checks each one fits its schema)."""

from __future__ import annotations

from pydantic import JsonValue
from pydantic.config import JsonDict

NEW_BOOK_EXAMPLES: list[JsonValue] = [
    {"title": "Dom Casmurro", "author": "Machado de Assis"},
    {
        "title": "Dom Casmurro",
        "authors": ["Machado de Assis"],
        "isbn": "978-85-359-0277-8",
        "publisher": "Companhia das Letras",
        "published_date": "1899",
        "language": "por",
        "page_count": 256,
        "subjects": ["Romance", "Literatura brasileira"],
        "cover_url": "https://covers.example.org/dom-casmurro.jpg",
        "copies": 2,
    },
]
PATCH_EXAMPLES: list[JsonValue] = [{"copies": 2, "subjects": ["Romance"], "publisher": None}]
BOOK_EXAMPLE: JsonDict = {
    "id": 1,
    "title": "Dom Casmurro",
    "subtitle": None,
    "author": "Machado de Assis",
    "authors": ["Machado de Assis"],
    "isbn": "9788535902778",
    "isbn_10": "8535902775",
    "publisher": "Companhia das Letras",
    "published_year": 1899,
    "published_date": "1899",
    "language": "pt",
    "page_count": 256,
    "subjects": ["Romance", "Literatura brasileira"],
    "description": "Bento Santiago tells the story of his life and of Capitu.",
    "cover_url": "https://covers.example.org/dom-casmurro.jpg",
    "series": None,
    "series_index": None,
    "copies": 1,
    "version": 1,
    "created_at": "2025-01-31T12:00:00Z",
    "created_by": "user1",
    "updated_at": "2025-01-31T12:00:00Z",
    "updated_by": "user1",
}
HISTORY_EXAMPLE: list[JsonValue] = [
    {
        "version": 1,
        "action": "created",
        "changed_at": "2025-01-31T12:00:00Z",
        "changed_by": "user1",
        "changes": {
            "title": {"from": None, "to": "Dom Casmurro"},
            "author": {"from": None, "to": "Machado de Assis"},
            "authors": {"from": None, "to": ["Machado de Assis"]},
            "copies": {"from": None, "to": 1},
        },
    },
    {
        "version": 2,
        "action": "updated",
        "changed_at": "2025-02-01T09:30:00Z",
        "changed_by": "user1",
        "changes": {"copies": {"from": 1, "to": 2}},
    },
]
