"""``python -m books_service`` starts the service (same as books_service/books_service.py)."""

from common.server import serve

serve(
    "books_service.config:BooksSettings",
    "books_service.preparation:prepare",
    "books_service.app:create_app",
)
