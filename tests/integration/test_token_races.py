"""Races between a request that issues or changes something and a concurrent change, run
deterministically: the domain functions are called one after the other in the order the race
would interleave them (each call commits), or two transactions are held open at once on
PostgreSQL. Real databases, both of them; no HTTP and no sleeps."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from auth_service import accounts, revocations, sessions
from auth_service.models import LoginSession, TokenRevocation, User
from auth_service.passwords import Hasher
from common import migrations
from common.clock import as_utc, utcnow
from common.db import Database
from tests.support.postgres import PostgresServer

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"
POLICY = sessions.SessionPolicy(
    refresh_ttl=timedelta(days=14), max_age=timedelta(days=90), reuse_grace=timedelta(seconds=10)
)
# Cheap hashes; the older parameters make every stored hash "need a rehash" under HASHER.
HASHER = Hasher(time_cost=2, memory_kib=8192)
OLD_HASHER = Hasher(time_cost=1, memory_kib=8192)


def sign(user: User, session_id: str) -> sessions.AccessToken:
    return sessions.AccessToken(
        f"access token of {user.id} in {session_id}", utcnow() + timedelta(minutes=15)
    )


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
    return accounts.register(db, hasher, name, PASSWORD, POLICY, sign=sign).user


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
        accounts.log_in(db, HASHER, checked, PASSWORD, POLICY, sign=sign)
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
        accounts.log_in(db, HASHER, checked, PASSWORD, POLICY, sign=sign)
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
        accounts.log_in(db, HASHER, checked, PASSWORD, POLICY, sign=sign)
    assert live_sessions(db, registered.id) == 0
    checked = accounts.check_password(db, HASHER, "racer", NEW_PASSWORD)
    issued = accounts.log_in(db, HASHER, checked, NEW_PASSWORD, POLICY, sign=sign)
    assert issued.user.role == "admin"


def test_an_account_deleted_during_a_login_is_an_unknown_user(db: Database) -> None:
    registered = register(db)
    checked = accounts.check_password(db, HASHER, "racer", PASSWORD)
    accounts.delete_user(db, registered.id)
    with pytest.raises(accounts.InvalidCredentials):  # not a 500
        accounts.log_in(db, HASHER, checked, PASSWORD, POLICY, sign=sign)


def test_an_unchanged_account_logs_in_and_its_hash_is_upgraded(db: Database) -> None:
    registered = register(db, hasher=OLD_HASHER)
    checked = accounts.check_password(db, HASHER, "racer", PASSWORD)
    issued = accounts.log_in(db, HASHER, checked, PASSWORD, POLICY, sign=sign)
    assert issued.user.id == registered.id and live_sessions(db, registered.id) == 2
    with db.read() as session:
        stored = session.get_one(User, registered.id).password_hash
    assert stored != registered.password_hash and not HASHER.needs_rehash(stored)
    accounts.check_password(db, HASHER, "racer", PASSWORD)


@pytest.fixture
def postgres_db(postgres: PostgresServer) -> Iterator[Database]:
    url = postgres.create_database("admins")
    migrations.upgrade("auth", url)
    database = Database(url)
    yield database
    database.dispose()


def waiting_on_a_lock(db: Database) -> bool:
    with db.read() as session:
        return bool(
            session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        )


LAST_ADMIN_CHANGES = {
    "demote": lambda db, uid: accounts.update_user(db, uid, role="librarian"),
    "disable": lambda db, uid: accounts.update_user(db, uid, disabled=True),
    "delete": lambda db, uid: accounts.delete_user(db, uid),
}


@pytest.mark.parametrize(
    ("first", "second"), [("demote", "demote"), ("delete", "disable"), ("disable", "delete")]
)
def test_two_administrators_removed_at_once_leave_one(
    postgres_db: Database, monkeypatch: pytest.MonkeyPatch, first: str, second: str
) -> None:
    db = postgres_db
    one = accounts.ensure_admin(db, HASHER, "admin.one", PASSWORD)
    two = accounts.ensure_admin(db, HASHER, "admin.two", PASSWORD)
    # The first change stops, transaction open, right after it counted the administrators
    # left; the second then runs as far as it can before the first commits.
    counted, release = threading.Event(), threading.Event()
    count = accounts._active_admins

    def count_then_hold(session: Session) -> int:
        left = count(session)
        if threading.current_thread().name == "first":
            counted.set()
            assert release.wait(30)
        return left

    monkeypatch.setattr(accounts, "_active_admins", count_then_hold)
    outcomes: dict[str, object] = {}

    def run(name: str, change: str, user_id: int) -> None:
        try:
            LAST_ADMIN_CHANGES[change](db, user_id)
            outcomes[name] = "done"
        except accounts.LastAdministrator as refused:
            outcomes[name] = refused

    threads = {
        "first": threading.Thread(target=run, args=("first", first, one.id), name="first"),
        "second": threading.Thread(target=run, args=("second", second, two.id), name="second"),
    }
    threads["first"].start()
    assert counted.wait(30)
    threads["second"].start()
    # The second either finishes (it did not wait for the first: the race) or waits on a lock
    # the first holds; only then does the first commit.
    while threads["second"].is_alive() and not waiting_on_a_lock(db):
        threads["second"].join(0.01)
    release.set()
    for thread in threads.values():
        thread.join(30)
    assert outcomes["first"] == "done"
    assert isinstance(outcomes["second"], accounts.LastAdministrator)
    with db.read() as session:
        assert accounts._active_admins(session) == 1


class HasherWithAChangeMidway(Hasher):
    """Hashes the new password only after ``change`` ran: what happens meanwhile, between the
    check of the current password and the write, in a password change."""

    def __init__(self, change: Callable[[], object]) -> None:
        super().__init__(time_cost=2, memory_kib=8192)
        self.change = change

    def hash(self, password: str) -> str:
        self.change()
        return super().hash(password)


def test_an_account_promoted_during_a_password_change_stays_promoted(db: Database) -> None:
    # The first owner of the name changes the password with the one they know while the
    # account is promoted (new password, sessions ended): they must not take it back.
    registered = register(db)
    hasher = HasherWithAChangeMidway(
        lambda: accounts.ensure_admin(db, HASHER, "racer", NEW_PASSWORD, promote=True)
    )
    with pytest.raises(accounts.InvalidCredentials):
        accounts.change_password(db, hasher, registered.id, PASSWORD, "the first owner's", None)
    assert accounts.check_password(db, HASHER, "racer", NEW_PASSWORD).role == "admin"


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (lambda db, uid: accounts.delete_user(db, uid), accounts.UserNotFound),
        (lambda db, uid: accounts.update_user(db, uid, disabled=True), accounts.AccountDisabled),
    ],
    ids=["deleted", "disabled"],
)
def test_an_account_removed_during_a_password_change_is_refused_not_a_500(
    db: Database, change: Callable[[Database, int], object], refusal: type[Exception]
) -> None:
    registered = register(db)
    hasher = HasherWithAChangeMidway(lambda: change(db, registered.id))
    with pytest.raises(refusal):  # was NoResultFound for a delete, and a 500
        accounts.change_password(db, hasher, registered.id, PASSWORD, NEW_PASSWORD, None)
    with db.read() as session:
        user = session.get(User, registered.id)
    assert user is None or HASHER.verify(user.password_hash, PASSWORD)


def end_the_session(db: Database, refresh_token: str, _user_id: int) -> None:
    with db.transaction() as session:  # POST /logout
        sessions.end_session_of(session, refresh_token, "logout")


def end_every_session(db: Database, _refresh_token: str, user_id: int) -> None:
    with db.transaction() as session:  # POST /logout-all
        sessions.revoke_user_sessions(session, user_id, "logout everywhere")


@pytest.mark.parametrize("end", [end_the_session, end_every_session], ids=["logout", "all"])
def test_a_session_ended_during_a_refresh_stays_listed_until_the_new_token_expires(
    postgres_db: Database, monkeypatch: pytest.MonkeyPatch, end: Callable[..., None]
) -> None:
    # The refresh signs a two-hour token and stops, its transaction open, right after it
    # recorded that expiry; the session is ended meanwhile. The ending waits for the refresh
    # and must then list the session (and user) as long as the two-hour token lives, not as
    # long as the one-minute token the login signed.
    db = postgres_db

    def sign_for(user: User, session_id: str) -> sessions.AccessToken:
        refreshing = threading.current_thread().name == "refresh"
        lifetime = timedelta(hours=2) if refreshing else timedelta(minutes=1)
        return sessions.AccessToken(f"{user.id}/{session_id}", utcnow() + lifetime)

    user = accounts.register(db, HASHER, "refresher", PASSWORD, POLICY, sign=sign_for).user
    login = accounts.log_in(db, HASHER, user, PASSWORD, POLICY, sign=sign_for)
    recorded, release = threading.Event(), threading.Event()
    record = revocations.record_expiry

    def record_then_hold(*args: object) -> None:
        record(*args)  # type: ignore[arg-type]
        if threading.current_thread().name == "refresh":
            recorded.set()
            assert release.wait(30)

    monkeypatch.setattr(revocations, "record_expiry", record_then_hold)
    issued: list[sessions.Issued] = []
    refresh = threading.Thread(
        target=lambda: issued.append(
            sessions.rotate(db, login.refresh_token, POLICY, sign=sign_for)
        ),
        name="refresh",
    )
    refresh.start()
    assert recorded.wait(30)
    ending = threading.Thread(target=end, args=(db, login.refresh_token, user.id))
    ending.start()
    while ending.is_alive() and not waiting_on_a_lock(db):
        ending.join(0.01)
    release.set()
    refresh.join(30)
    ending.join(30)
    assert issued, "the refresh came first and succeeded"
    with db.read() as session:
        ended = session.get_one(LoginSession, login.session_id)
        entries = session.scalars(select(TokenRevocation)).all()
    assert ended.revoked_at is not None
    new_token_expires = as_utc(ended.access_tokens_expire_at)
    assert new_token_expires > utcnow() + timedelta(minutes=119)
    listed = {entry.session_id: as_utc(entry.expires_at) for entry in entries}
    assert listed[login.session_id] == new_token_expires + revocations.GRACE
    if end is end_every_session:
        assert listed[None] == new_token_expires + revocations.GRACE
