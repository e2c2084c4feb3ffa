"""The Auth Service's user administration as domain functions, without HTTP or processes: a
real SQLite file with the migrations applied, :mod:`auth_service.accounts` called directly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auth_service import accounts
from auth_service.models import User
from common.db import Database
from common.pagination import InvalidCursor
from tests.support.databases import migrated


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with migrated("auth", f"sqlite:///{tmp_path / 'auth.db'}") as database:
        yield database


def add_users(db: Database, *names: str, role: str = "librarian") -> list[int]:
    with db.transaction() as session:
        users = [User(username=n, username_key=n, password_hash="-", role=role) for n in names]
        session.add_all(users)
        session.flush()
        return [user.id for user in users]


def test_users_are_listed_oldest_first_a_page_at_a_time(db: Database) -> None:
    ids = add_users(db, *(f"user{n}" for n in range(7)))
    seen: list[int] = []
    cursor: str | None = None
    while True:
        with db.read() as session:
            users, page, total = accounts.list_users(session, limit=3, cursor=cursor)
        assert total == 7 and len(users) <= 3
        seen += [user.id for user in users]
        if page.next is None:
            break
        cursor = page.next.encode()
    assert seen == ids


def test_a_user_deleted_between_pages_neither_repeats_nor_hides_another(db: Database) -> None:
    ids = add_users(db, "a1", "a2", "a3", "a4")
    with db.read() as session:
        users, page, _ = accounts.list_users(session, limit=2, cursor=None)
    assert page.next is not None
    accounts.delete_user(db, ids[0])
    with db.read() as session:
        rest, _, total = accounts.list_users(session, limit=2, cursor=page.next.encode())
    assert [u.id for u in users + rest] == ids and total == 3


def test_a_cursor_that_is_not_the_lists_own_is_refused(db: Database) -> None:
    with pytest.raises(InvalidCursor), db.read() as session:
        accounts.list_users(session, limit=2, cursor="bm90IGEgY3Vyc29y")


def test_a_role_change_and_disabling_are_stored(db: Database) -> None:
    add_users(db, "boss", role="admin")
    (uid,) = add_users(db, "ana")
    assert accounts.update_user(db, uid, role="reader").roles == ["reader"]
    assert accounts.update_user(db, uid, disabled=True).is_disabled
    with db.read() as session:
        stored = accounts.get_user(session, uid)
    assert stored.role == "reader" and stored.is_disabled


def test_the_last_administrator_cannot_be_demoted(db: Database) -> None:
    (boss,) = add_users(db, "boss", role="admin")
    with pytest.raises(accounts.LastAdministrator):
        accounts.update_user(db, boss, role="librarian")
    with db.read() as session:
        assert accounts.get_user(session, boss).role == "admin"
