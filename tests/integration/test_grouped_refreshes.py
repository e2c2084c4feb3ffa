"""Refreshes queued together at SQLite's write gate share one transaction (group commit,
:mod:`common.group_commit`), and each is still decided as if it had committed alone: a reused
token is refused and revokes its own session only, the others are issued and committed, and
two refreshes with one token leave exactly one live successor. On PostgreSQL every refresh
keeps a transaction of its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import func, select

from auth_service import accounts, sessions
from auth_service.models import LoginSession, RefreshToken, TokenRevocation, User
from auth_service.passwords import Hasher
from common.clock import utcnow
from common.db import Database
from tests.support.databases import migrated
from tests.support.group_commit import run_grouped
from tests.support.postgres import PostgresServer

PASSWORD = "correct horse battery staple"
POLICY = sessions.SessionPolicy(
    refresh_ttl=timedelta(days=14), max_age=timedelta(days=90), reuse_grace=timedelta(seconds=10)
)
HASHER = Hasher(time_cost=1, memory_kib=8192)


def sign(user: User, session_id: str) -> sessions.AccessToken:
    return sessions.AccessToken(f"{user.id}/{session_id}", utcnow() + timedelta(minutes=15))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with migrated("auth", f"sqlite:///{tmp_path / 'auth.db'}") as database:
        yield database


def register(db: Database, name: str) -> sessions.Issued:
    return accounts.register(db, HASHER, name, PASSWORD, POLICY, sign=sign)


def rotate(db: Database, token: str) -> sessions.Issued:
    return sessions.rotate(db, token, POLICY, sign=sign)


def revoked(db: Database, session_id: str) -> bool:
    with db.read() as session:
        return session.get_one(LoginSession, session_id).revoked_at is not None


def test_refreshes_queued_together_share_one_commit_and_each_gets_its_own_tokens(
    db: Database,
) -> None:
    logins = [register(db, f"reader{n}") for n in range(4)]
    assert db.groups is not None
    commits = db.groups.commits
    outcomes = run_grouped(db, [partial(rotate, db, login.refresh_token) for login in logins])
    assert db.groups.commits - commits == 1
    for login, (kind, issued) in zip(logins, outcomes, strict=True):
        assert kind == "ok"
        assert issued.session_id == login.session_id
        assert issued.access_token == f"{login.user.id}/{login.session_id}"
        # Committed: the new token is the live one, and rotates again.
        assert rotate(db, issued.refresh_token).session_id == login.session_id


def test_a_reused_token_in_a_group_is_refused_and_revokes_its_session_alone(
    db: Database,
) -> None:
    thief, before, after = (register(db, name) for name in ("victim", "before", "after"))
    # Two rotations on: the first token is no longer the newest one's parent (no grace).
    rotate(db, rotate(db, thief.refresh_token).refresh_token)
    outcomes = run_grouped(
        db,
        [
            partial(rotate, db, before.refresh_token),
            partial(rotate, db, thief.refresh_token),
            partial(rotate, db, after.refresh_token),
        ],
    )
    (kind_before, issued_before), (kind, error), (kind_after, issued_after) = outcomes
    assert kind == "error" and isinstance(error, sessions.InvalidRefreshToken)
    assert "already used" in error.detail
    # The revocation was committed, with its listing; the others' rotations too.
    assert revoked(db, thief.session_id)
    with db.read() as session:
        listed = session.scalars(select(TokenRevocation.session_id)).all()
    assert listed == [thief.session_id]
    assert kind_before == kind_after == "ok"
    assert not revoked(db, before.session_id) and not revoked(db, after.session_id)
    rotate(db, issued_before.refresh_token)
    rotate(db, issued_after.refresh_token)


def test_two_refreshes_of_one_token_in_a_group_leave_one_live_successor(db: Database) -> None:
    login = register(db, "twice")
    outcomes = run_grouped(db, [partial(rotate, db, login.refresh_token)] * 2)
    (first_kind, first), (second_kind, second) = outcomes
    # The second is the first's retry within the grace: the first's successor is retired.
    assert first_kind == second_kind == "ok"
    with db.read() as session:
        live = session.scalar(
            select(func.count())
            .select_from(RefreshToken)
            .where(RefreshToken.session_id == login.session_id, RefreshToken.used_at.is_(None))
        )
    assert live == 1
    with pytest.raises(sessions.InvalidRefreshToken):
        rotate(db, first.refresh_token)
    assert revoked(db, login.session_id)
    assert second.refresh_token != first.refresh_token


def test_a_refresh_on_postgresql_has_a_transaction_of_its_own_and_detects_reuse(
    postgres: PostgresServer,
) -> None:
    with migrated("auth", postgres.create_database("grouped_refreshes")) as database:
        assert database.groups is None  # its writers lock rows, not the database
        login = register(database, "postgres")
        rotate(database, rotate(database, login.refresh_token).refresh_token)
        with pytest.raises(sessions.InvalidRefreshToken, match="already used"):
            rotate(database, login.refresh_token)
        assert revoked(database, login.session_id)
