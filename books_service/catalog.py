"""The catalog: adding, reading, replacing and removing books. No HTTP here."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from books_service.models import Book
from common.errors import NotFound

# Ids are 32-bit integers in both databases; anything outside cannot name a book.
MAX_ID = 2**31 - 1


class BookNotFound(NotFound):
    type = "/problems/book-not-found"
    title = "Book not found"

    def __init__(self, book_id: int) -> None:
        super().__init__(f"There is no book with id {book_id}.")


def list_books(session: Session) -> Sequence[Book]:
    return session.scalars(select(Book).order_by(Book.id)).all()


def get_book(session: Session, book_id: int, *, for_update: bool = False) -> Book:
    """The book, or BookNotFound. ``for_update`` locks its row until the transaction ends, so
    a concurrent writer waits and then sees the outcome (on SQLite the whole write
    transaction is already exclusive)."""
    book = (
        session.get(Book, book_id, with_for_update=for_update) if 1 <= book_id <= MAX_ID else None
    )
    if book is None:
        raise BookNotFound(book_id)
    return book


def add_book(session: Session, *, title: str, author: str, created_by: str) -> Book:
    book = Book(title=title, author=author, created_by=created_by)
    session.add(book)
    session.flush()
    return book


def replace_book(session: Session, book_id: int, *, title: str, author: str) -> Book:
    book = get_book(session, book_id, for_update=True)
    book.title = title
    book.author = author
    session.flush()
    return book


def delete_book(session: Session, book_id: int) -> None:
    session.delete(get_book(session, book_id, for_update=True))
