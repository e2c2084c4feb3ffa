"""Accounts: registering users and checking their passwords. No HTTP here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from auth_service import usernames
from auth_service.models import User
from auth_service.passwords import Hasher
from common.clock import utcnow
from common.db import Database
from common.errors import Conflict, Unauthorized


class UsernameTaken(Conflict):
    type = "/problems/username-taken"
    title = "Username taken"


class InvalidCredentials(Unauthorized):
    type = "/problems/invalid-credentials"
    title = "Invalid credentials"

    def __init__(self) -> None:
        # One message for an unknown user and a wrong password: it must not tell them apart.
        super().__init__("The username or password is incorrect.")


def find_user(session: Session, username: str) -> User | None:
    key = usernames.lookup_key(username)
    return session.scalars(select(User).where(User.username_key == key)).one_or_none()


def register(db: Database, hasher: Hasher, username: str, password: str) -> User:
    """Create a user. The caller has validated the name and password against the policy."""
    name = usernames.normalise(username)
    key = usernames.lookup_key(name)
    taken = UsernameTaken(f"The username '{name}' is already taken.")
    # Hash before the write transaction: it is the slow part and must not hold the write lock.
    password_hash = hasher.hash(password)
    with db.transaction() as session:
        if find_user(session, name) is not None:
            raise taken
        user = User(username=name, username_key=key, password_hash=password_hash)
        session.add(user)
        try:
            session.flush()
        except IntegrityError:  # a concurrent registration won the race for this name
            raise taken from None
    return user


def authenticate(db: Database, hasher: Hasher, username: str, password: str) -> User:
    with db.read() as session:
        user = find_user(session, username)
    # Verify even when the user is unknown (against a dummy hash): equal cost, equal answer.
    if not hasher.verify(user.password_hash if user else None, password) or user is None:
        raise InvalidCredentials()
    new_hash = hasher.hash(password) if hasher.needs_rehash(user.password_hash) else None
    with db.transaction() as session:
        user = session.get_one(User, user.id)
        if new_hash:
            user.password_hash = new_hash
        user.last_login_at = utcnow()
    return user
