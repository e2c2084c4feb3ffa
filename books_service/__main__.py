"""``python -m books_service`` starts the service (same as books_service/books_service.py)."""

from books_service.app import prepare
from books_service.config import BooksSettings
from common.server import serve

serve(BooksSettings, prepare, "books_service.app:create_app")
