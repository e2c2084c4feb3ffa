"""New books added together on PostgreSQL (books_service/pg_adds.py): the POSTs a worker takes
while another of its threads is writing are added by one statement, and each still gets what
it would have got alone: the same rows, its own 201 or 409, and no deadlock between workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from books_service import book_writes, catalog, pg_adds
from books_service.book_rules import validate_book
from books_service.catalog import BookValues, DuplicateBook, NewBook
from books_service.models import Book, BookHistory
from books_service.pg_writes import title_lock
from common.db import Database
from tests.support.databases import facet_rows, migrated

QUEUE_TIMEOUT = 5.0


@pytest.fixture(scope="module")
def db(postgres: Any) -> Iterator[Database]:
    with migrated("books", postgres.create_database("pg_adds")) as database:
        yield database


@pytest.fixture(scope="module")
def twin(postgres: Any) -> Iterator[Database]:
    with migrated("books", postgres.create_database("pg_adds_twin")) as database:
        yield database


def new_book(**fields: Any) -> NewBook:
    allow = fields.pop("allow_duplicate", False)
    return catalog.new_book(validate_book(fields), by="ana", allow_duplicate=allow)


def statements(db: Database) -> int:
    """How many write transactions have added books so far (each statement alone is one)."""
    with db.read() as session:
        return int(session.scalar(text("SELECT count(DISTINCT xmin::text) FROM books")) or 0)


def added_together(db: Database, news: list[NewBook]) -> list[tuple[str, Any]]:
    """Each of ``news`` added from a thread of its own while a first book's statement waits
    for its title's lock (held here), so that they queue and are added by the next statement
    together; each one's ("ok", values) or ("error", exception), in the order of ``news``."""
    return groups_at_once([(db, news)])[0]


def groups_at_once(
    groups: list[tuple[Database, list[NewBook]]], held: tuple[NewBook, ...] = ()
) -> list[list[tuple[str, Any]]]:
    """:func:`added_together` for several processes' queues (a Database each), their groups
    let go at the same moment; the titles' locks of ``held`` kept until every group waits for
    one of them."""
    outcomes: list[list[tuple[str, Any]]] = [[("none", None)] * len(news) for _, news in groups]
    url = groups[0][0].engine.url.set(drivername="postgresql")
    threads = []
    with psycopg.connect(url.render_as_string(hide_password=False)) as holder:
        keys = [title_lock(new.row["duplicate_key"]) for new in held]
        for key in keys:
            holder.execute("SELECT pg_advisory_lock(%s)", (key,))  # the session's, not undone
        for number, (db, news) in enumerate(groups):
            blocker = new_book(title=f"Blocker {time.monotonic_ns()}", author="Nobody")
            holder.execute(
                "SELECT pg_advisory_xact_lock(%s)", (title_lock(blocker.row["duplicate_key"]),)
            )
            first = threading.Thread(target=lambda db=db, new=blocker: book_writes.add(db, new))
            first.start()
            threads.append(first)
            _wait_for(lambda n=number + 1: _waiting_on_lock(holder) == n, "a first book to wait")
            for index, new in enumerate(news):

                def run(
                    db: Database = db, index: int = index, new: NewBook = new, number: int = number
                ) -> None:
                    try:
                        outcomes[number][index] = ("ok", book_writes.add(db, new))
                    except Exception as error:
                        outcomes[number][index] = ("error", error)

                thread = threading.Thread(target=run)
                thread.start()
                threads.append(thread)
                _wait_for(lambda db=db, n=index + 1: pg_adds.queued(db) == n, "a book to queue")
        holder.rollback()  # the locks given back: each first goes on, then the rest together
        if keys:
            _wait_for(lambda: _waiting_on_lock(holder) == len(groups), "every group to wait")
            for key in keys:
                holder.execute("SELECT pg_advisory_unlock(%s)", (key,))
    for thread in threads:
        thread.join(30)
    return outcomes


def _waiting_on_lock(holder: psycopg.Connection[Any]) -> int:
    row = holder.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    ).fetchone()
    return int(row[0]) if row else 0


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + QUEUE_TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"waited too long for {what}"
        time.sleep(0.002)


def stored(db: Database, book_id: int) -> dict[str, Any]:
    """Everything adding a book stored of it, but its id: its row (every column, and the JSON
    columns' text as stored), its author and subject rows, its history entry."""
    with db.read() as session:
        row = session.execute(
            text(
                "SELECT to_jsonb(books) - 'id', authors::text, subjects::text"
                " FROM books WHERE id = :id"
            ),
            {"id": book_id},
        ).one()
        history = session.execute(
            text(
                "SELECT version, action, changed_at, changed_by, changes::text, origin::text"
                " FROM book_history WHERE book_id = :id"
            ),
            {"id": book_id},
        ).all()
    return {
        "row": tuple(row),
        "facets": facet_rows(db, book_id),
        "history": [tuple(entry) for entry in history],
    }


def live_and_changes(db: Database) -> tuple[int, int]:
    with db.read() as session:
        live, changes = session.execute(
            text("SELECT sum(live), sum(changes) FROM book_counts")
        ).one()
    return int(live), int(changes)


def test_books_added_together_store_exactly_what_each_would_store_alone(
    db: Database, twin: Database
) -> None:
    news = [
        new_book(
            title="Dom Casmurro",
            authors=["Machado de Assis"],
            subjects=["Romance", "Realismo"],
            isbn="9788535910667",
            published_year=1899,
            language="pt",
            series="Obras completas",
            series_index=2.5,
            copies=3,
            description='Bentinho & Capitu: "ciúme" — 1899\nlinha dois',
        ),
        new_book(title="Iracema", authors=["José de Alencar"], isbn="9788572326971"),
        new_book(title="O Guarani", authors=["José de Alencar", "Ñandú Ÿ"], subjects=["Índios"]),
        new_book(title="Ubirajara", author="José de Alencar", published_date="1874-05"),
    ]
    alone = [pg_adds.add_alone(twin, new) for new in news]
    before = statements(db)
    together = added_together(db, news)
    assert [kind for kind, _ in together] == ["ok"] * 4, together
    # The first book, then the two with an ISBN at once, and the two checked by title at once.
    assert statements(db) == before + 3
    for (_, values), single in zip(together, alone, strict=True):
        assert isinstance(values, BookValues)
        assert stored(db, values.id) == stored(twin, single.id)
        assert {**values, "id": None} == {**single, "id": None}


def test_each_book_of_a_statement_gets_its_own_duplicate_answer(db: Database) -> None:
    existing = book_writes.add(db, new_book(title="Senhora", author="José de Alencar"))
    live, changes = live_and_changes(db)
    news = [
        new_book(title="Lucíola", author="José de Alencar", isbn="9788572327091"),
        new_book(title="Lucíola (outra)", author="Alguém", isbn="9788572327091"),
        new_book(title="Diva", author="José de Alencar", isbn="9788508040537"),
    ]
    outcomes = added_together(db, news)
    assert [kind for kind, _ in outcomes] == ["ok", "error", "ok"], outcomes
    error = outcomes[1][1]
    assert isinstance(error, DuplicateBook) and error.existing_id == outcomes[0][1].id
    # A title already in the catalog, among new ones checked by title: only it is kept out.
    news = [
        new_book(title="Senhora", author="José de Alencar"),
        new_book(title="Cinco Minutos", author="José de Alencar"),
        new_book(title="Til", author="José de Alencar"),
    ]
    outcomes += added_together(db, news)
    kinds = [kind for kind, _ in outcomes[3:]]
    assert kinds == ["error", "ok", "ok"], outcomes
    assert outcomes[3][1].existing_id == existing.id
    # The first of each statement (the blocker) and the four added, counted once each.
    assert live_and_changes(db)[0] == live + 2 + 4
    assert live_and_changes(db)[1] > changes


def test_two_new_books_of_one_title_never_share_a_statement(db: Database) -> None:
    same = {"title": "A Pata da Gazela", "author": "José de Alencar"}
    outcomes = added_together(
        db, [new_book(**same), new_book(title="Diva", author="Outro"), new_book(**same)]
    )
    assert [kind for kind, _ in outcomes] == ["ok", "ok", "error"], outcomes
    assert outcomes[2][1].existing_id == outcomes[0][1].id
    with db.read() as session:
        assert (
            session.scalar(
                select(text("count(*)")).select_from(Book).where(Book.title == same["title"])
            )
            == 1
        )


def test_books_allowed_to_duplicate_are_added_together_each_once(db: Database) -> None:
    same = {"title": "O Sertanejo", "author": "José de Alencar", "allow_duplicate": True}
    outcomes = added_together(db, [new_book(**same), new_book(**same)])
    assert [kind for kind, _ in outcomes] == ["ok", "ok"], outcomes
    assert outcomes[0][1].id != outcomes[1][1].id


def test_a_statement_that_fails_adds_each_book_alone_for_its_own_answer(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def failing(statement: Any, params: Any) -> Any:
        calls.append(params)
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(db, "alone_rows", failing)
    news = [
        new_book(title="Encarnação", author="José de Alencar"),
        new_book(title="Senhora", author="José de Alencar"),  # added by the test above
        new_book(title="Sonhos d'Ouro", author="José de Alencar"),
    ]
    outcomes = added_together(db, news)
    assert len(calls) == 1
    assert [kind for kind, _ in outcomes] == ["ok", "error", "ok"], outcomes
    assert isinstance(outcomes[1][1], DuplicateBook)
    with db.read() as session:
        for _, values in (outcomes[0], outcomes[2]):
            entries = session.scalar(
                select(text("count(*)"))
                .select_from(BookHistory)
                .where(BookHistory.book_id == values.id)
            )
            assert entries == 1


def test_two_workers_statements_take_the_titles_locks_in_one_order(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes' groups of the same four new titles, given in opposite orders, each
    statement stopped at a title in the middle (its lock held here) until both are: the second
    then waits for the first's locks instead of holding one the first waits for (a deadlock,
    which PostgreSQL breaks after a second by failing one statement)."""
    other = Database(db.engine.url.render_as_string(hide_password=False))
    failed: list[BaseException] = []
    for database in (db, other):
        run = database.alone_rows

        def recorded(statement: Any, params: Any, run: Any = run) -> Any:
            try:
                return run(statement, params)
            except Exception as error:
                failed.append(error)
                raise

        monkeypatch.setattr(database, "alone_rows", recorded)
    titles = [f"Ordem {time.monotonic_ns()} {n}" for n in range(4)]
    news = [new_book(title=title, author="Dois") for title in titles]
    try:
        first, second = groups_at_once([(db, news), (other, news[::-1])], held=(news[1], news[2]))
    finally:
        other.dispose()
    assert failed == []
    outcomes = first + second
    assert sorted(kind for kind, _ in outcomes) == ["error"] * 4 + ["ok"] * 4, outcomes


def test_two_workers_adding_the_same_titles_at_once_add_each_once_without_deadlock(
    db: Database,
) -> None:
    """Two processes' queues (two Database objects on one catalog), eight threads each, every
    thread adding the same twelve titles in its own order: each title is added once, every
    other attempt is its 409, and no statement fails (a deadlock would be an error)."""
    other = Database(str(db.engine.url.render_as_string(hide_password=False)))
    titles = [f"Concorrente {n}" for n in range(12)]
    results: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def writer(database: Database, offset: int) -> None:
        for n in range(len(titles)):
            title = titles[(n + offset) % len(titles)]
            try:
                outcome: tuple[str, Any] = (
                    "ok",
                    book_writes.add(database, new_book(title=title, author="Muitos")).id,
                )
            except DuplicateBook as error:
                outcome = ("duplicate", error.existing_id)
            except Exception as error:
                outcome = ("error", repr(error))
            with lock:
                results.append((title, outcome))

    threads = [
        threading.Thread(target=writer, args=(database, offset))
        for offset in range(8)
        for database in (db, other)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    other.dispose()
    assert not [r for r in results if r[1][0] == "error"], results
    added = {title: outcome[1] for title, outcome in results if outcome[0] == "ok"}
    assert sorted(added) == sorted(titles)
    assert all(
        outcome[1] == added[title] for title, outcome in results if outcome[0] == "duplicate"
    )
    assert len(results) == 16 * len(titles)
