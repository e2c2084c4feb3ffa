"""Races between a request that issues or changes something and a concurrent change, run
deterministically: the domain functions are called one after the other in the order the race
would interleave them (each call commits), or two transactions are held open at once on
PostgreSQL. Real databases, both of them; no HTTP and no sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from auth_service import accounts, sessions
from auth_service.models import LoginSession, User
from auth_service.passwords import Hasher
from common import migrations
from common.db import Database

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"
POLICY = sessions.SessionPolicy(
    refresh_ttl=timedelta(days=14), max_age=timedelta(days=90), reuse_grace=timedelta(seconds=10)
)
# Cheap hashes; the older parameters make every stored hash "need a rehash" under HASHER.
HASHER = Hasher(time_cost=2, memory_kib=8192)
OLD_HASHER = Hasher(time_cost=1, memory_kib=8192)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'auth.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database("races")
    migrations.upgrade("auth", url)
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def register(db: Database, name: str = "racer", *, hasher: Hasher = HASHER) -> User:
    return accounts.register(db, hasher, name, PASSWORD, POLICY).user


def live_sessions(db: Database, user_id: int) -> int:
    with db.read() as session:
        return session.scalar(
            select(func.count())
            .select_from(LoginSession)
            .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        )


def test_a_password_changed_during_a_login_refuses_it(db: Database) -> None:
    # The stored hash is outdated, so the login would also upgrade it: with the old password.
    registered = register(db, hasher=OLD_HASHER)
    checked = accounts.check_password(db, HASHER, "racer", PASSWORD)
    accounts.change_password(db, HASHER, registered.id, PASSWORD, NEW_PASSWORD, None)
    with pytest.raises(accounts.InvalidCredentials):
        accounts.log_in(db, HASHER, checked, PASSWORD, POLICY)
    assert live_sessions(db, registered.id) == 0
    # The new password stands, not overwritten by a hash of the old one.
    accounts.check_password(db, HASHER, "racer", NEW_PASSWORD)
    with pytest.raises(accounts.InvalidCredentials):
        accounts.check_password(db, HASHER, "racer", PASSWORD)


def test_an_account_disabled_during_a_login_gets_no_session(db: Database) -> None:
    registered = register(db)
    checked = accounts.check_password(db, HASHER, "racer", PASSWORD)
    accounts.update_user(db, registered.id, disabled=True)
    with pytest.raises(accounts.AccountDisabled):
        accounts.log_in(db, HASHER, checked, PASSWORD, POLICY)
    assert live_sessions(db, registered.id) == 0


def test_an_account_promoted_during_a_login_is_not_handed_to_its_first_owner(
    db: Database,
) -> None:
    # Whoever registered the name knows the old password; the promotion sets a new one and
    # ends every session: a login checked just before must not become an admin session.
    registered = register(db)
    checked = accounts.check_password(db, HASHER, "racer", PASSWORD)
    accounts.ensure_admin(db, HASHER, "racer", NEW_PASSWORD, promote=True)
    with pytest.raises(accounts.InvalidCredentials):
        accounts.log_in(db, HASHER, checked, PASSWORD, POLICY)
    assert live_sessions(db, registered.id) == 0
    issued = accounts.log_in(
        db, HASHER, accounts.check_password(db, HASHER, "racer", NEW_PASSWORD), NEW_PASSWORD, POLICY
    )
    assert issued.user.role == "admin"


def test_an_account_deleted_during_a_login_is_an_unknown_user(db: Database) -> None:
    registered = register(db)
    checked = accounts.check_password(db, HASHER, "racer", PASSWORD)
    accounts.delete_user(db, registered.id)
    with pytest.raises(accounts.InvalidCredentials):  # not a 500
        accounts.log_in(db, HASHER, checked, PASSWORD, POLICY)


def test_an_unchanged_account_logs_in_and_its_hash_is_upgraded(db: Database) -> None:
    registered = register(db, hasher=OLD_HASHER)
    checked = accounts.check_password(db, HASHER, "racer", PASSWORD)
    issued = accounts.log_in(db, HASHER, checked, PASSWORD, POLICY)
    assert issued.user.id == registered.id and live_sessions(db, registered.id) == 2
    with db.read() as session:
        stored = session.get_one(User, registered.id).password_hash
    assert stored != registered.password_hash and not HASHER.needs_rehash(stored)
    accounts.check_password(db, HASHER, "racer", PASSWORD)
