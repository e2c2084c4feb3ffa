"""Accounts: registering users, checking passwords, and what administrators change.
No HTTP here."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from auth_service import lookalikes, revocations, sessions, usernames
from auth_service.models import DEFAULT_ROLE, MAX_USER_ID, ROLES, Role, Setting, User
from auth_service.passwords import Hasher
from common.clock import utcnow
from common.db import Database
from common.errors import ApiError, Conflict, Forbidden, NotFound, Unauthorized
from common.pagination import Cursor, Order, Page, SortKey, read_page
from common.prepared import Prepared

DEFAULT_ROLE_SETTING = "default_role"


class UsernameTaken(Conflict):
    type = "/problems/username-taken"
    title = "Username taken"


class UsernameLookalike(Conflict):
    type = "/problems/username-lookalike"
    title = "Username looks like another"

    def __init__(self, name: str, existing: str) -> None:
        super().__init__(
            f"The username '{name}' reads like the existing account '{existing}' (their "
            "letters look alike); choose another."
        )


class InvalidCredentials(Unauthorized):
    type = "/problems/invalid-credentials"
    title = "Invalid credentials"

    def __init__(self) -> None:
        # One message for an unknown user and a wrong password: it must not tell them apart.
        super().__init__("The username or password is incorrect.")


class AccountDisabled(Forbidden):
    type = "/problems/account-disabled"
    title = "Account disabled"

    def __init__(self) -> None:
        super().__init__("This account has been disabled by an administrator.")


class UserNotFound(NotFound):
    type = "/problems/user-not-found"
    title = "User not found"

    def __init__(self, user_id: int) -> None:
        super().__init__(f"There is no user with id {user_id}.")


class LastAdministrator(ApiError):
    status = 409
    type = "/problems/last-administrator"
    title = "Last administrator"

    def __init__(self) -> None:
        super().__init__("This would leave no active administrator; promote another one first.")


def find_user(session: Session, username: str) -> User | None:
    key = usernames.lookup_key(username)
    return session.scalars(select(User).where(User.username_key == key)).one_or_none()


# A login reads its user, then locks and updates the row: on the driver's cursor
# (:mod:`common.prepared`), the ORM's identity map and unit of work being most of their cost.
_users = cast(Table, User.__table__)
_LOGIN_COLUMNS = (
    _users.c.id,
    _users.c.username,
    _users.c.password_hash,
    _users.c.role,
    _users.c.disabled_at,
    _users.c.tokens_not_before,
)
_USER_BY_KEY = Prepared(select(*_LOGIN_COLUMNS).where(_users.c.username_key == bindparam("b_key")))
_LOCKED_USER = Prepared(
    select(*_LOGIN_COLUMNS).where(_users.c.id == bindparam("b_id")).with_for_update()
)
_LOGGED_IN = Prepared(
    update(_users)
    .where(_users.c.id == bindparam("b_id"))
    .values(last_login_at=bindparam("b_now"), updated_at=bindparam("b_now"))
)
_LOGGED_IN_REHASHED = Prepared(
    update(_users)
    .where(_users.c.id == bindparam("b_id"))
    .values(
        last_login_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
        password_hash=bindparam("b_hash"),
    )
)


def _detached_user(row: dict[str, Any] | None) -> User | None:
    """A copy of a user's row for the login, never added to a session."""
    return None if row is None else User(**row)


# The first key of the PostgreSQL advisory locks on skeletons (the two-key form, a space of
# its own: the Books Service locks single keys).
_SKELETON_LOCKS = 0x6E616D65


def lock_name(session: Session, skeleton: str) -> None:
    """Hold back, until this transaction ends, any other one registering a name of this
    skeleton (:func:`lookalikes.skeleton_key`).

    Two registrations of look-alike names at once (``ace``, and ``ace`` in Cyrillic letters)
    must not both find nothing, and no unique index can stop them: older accounts may share
    a skeleton. On PostgreSQL the second waits here, on an advisory lock of the skeleton, for
    the first to commit, then finds its row; SQLite serialises write transactions anyway."""
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(skeleton.encode("utf-8")).digest()
        session.execute(
            text("SELECT pg_advisory_xact_lock(CAST(:space AS integer), CAST(:key AS integer))"),
            {"space": _SKELETON_LOCKS, "key": int.from_bytes(digest[:4], "big", signed=True)},
        )


def refuse_lookalike(session: Session, name: str, skeleton: str) -> None:
    """UsernameLookalike if an account's name reads like the new name ``name``: one indexed
    look-up of its skeleton."""
    existing = session.scalar(
        select(User.username).where(User.username_skeleton == skeleton).limit(1)
    )
    if existing is not None:
        raise UsernameLookalike(name, existing)


def get_user(session: Session, user_id: int, *, for_update: bool = False) -> User:
    in_range = 1 <= user_id <= MAX_USER_ID
    user = session.get(User, user_id, with_for_update=for_update) if in_range else None
    if user is None:
        raise UserNotFound(user_id)
    return user


def default_role(session: Session) -> Role:
    value = session.get(Setting, DEFAULT_ROLE_SETTING)
    stored = value.value if value else None
    return next((role for role in ROLES if role == stored), DEFAULT_ROLE)


def set_default_role(db: Database, role: str) -> None:
    with db.transaction() as session:
        session.merge(Setting(key=DEFAULT_ROLE_SETTING, value=role))


def register(
    db: Database,
    hasher: Hasher,
    username: str,
    password: str,
    policy: sessions.SessionPolicy,
    *,
    sign: sessions.AccessTokenSigner,
    role: str | None = None,
) -> sessions.Issued:
    """Create a user and open their first session. The caller has validated the name and
    password against the policy."""
    name = usernames.normalise(username)
    key = usernames.lookup_key(name)
    skeleton = lookalikes.skeleton_key(name)
    taken = UsernameTaken(f"The username '{name}' is already taken.")
    # Hash before the write transaction: it is the slow part and must not hold the write lock.
    password_hash = hasher.hash(password)

    def attempt(session: Session) -> sessions.Issued:
        lock_name(session, skeleton)
        if find_user(session, name) is not None:
            raise taken
        refuse_lookalike(session, name, skeleton)
        user = User(
            username=name,
            username_key=key,
            username_skeleton=skeleton,
            password_hash=password_hash,
            role=role or default_role(session),
        )
        session.add(user)
        try:
            session.flush()
        except IntegrityError:  # a concurrent registration won the race for this name
            raise taken from None
        return sessions.start(session, user, policy, sign)

    return sessions.issuing(db, attempt)


def check_password(db: Database, hasher: Hasher, username: str, password: str) -> User:
    """The user these credentials belong to, or InvalidCredentials."""
    with db.read() as session:
        key = usernames.lookup_key(username)
        user = _detached_user(_USER_BY_KEY.first(session.connection(), {"b_key": key}))
    # Verify even when the user is unknown (against a dummy hash): equal cost, equal answer.
    if not hasher.verify(user.password_hash if user else None, password) or user is None:
        raise InvalidCredentials()
    return user


def log_in(
    db: Database,
    hasher: Hasher,
    user: User,
    password: str,
    policy: sessions.SessionPolicy,
    *,
    sign: sessions.AccessTokenSigner,
    also: Callable[[Session], None] | None = None,
) -> sessions.Issued:
    """Open a session for ``user``, as :func:`check_password` read it: ``password`` was just
    verified against that copy's hash.

    The account may have changed since (the check is slow, and nothing was locked): with its
    row locked, it must still hold the very hash that was verified and be enabled. A password
    changed or reset (``create-admin --promote``) meanwhile, or the account deleted, answers
    InvalidCredentials, as the check would now; disabled meanwhile, AccountDisabled. Only then
    is an outdated hash upgraded, so a fresh password is never overwritten with the old one.
    The access token is signed in that transaction too (see :func:`sessions.issuing`), and
    ``also`` is run in it, after the user's row is locked."""
    if user.is_disabled:
        raise AccountDisabled()
    verified = user.password_hash
    # Hashed before the transaction: it is the slow part and must not hold the write lock.
    new_hash = hasher.hash(password) if hasher.needs_rehash(verified) else None

    def attempt(session: Session) -> sessions.Issued:
        connection = session.connection()
        current = _detached_user(_LOCKED_USER.first(connection, {"b_id": user.id}))
        if current is None or current.password_hash != verified:
            raise InvalidCredentials()
        if current.is_disabled:
            raise AccountDisabled()
        now = utcnow()
        if new_hash:
            _LOGGED_IN_REHASHED.run(connection, {"b_id": user.id, "b_now": now, "b_hash": new_hash})
            current.password_hash = new_hash
        else:
            _LOGGED_IN.run(connection, {"b_id": user.id, "b_now": now})
        current.last_login_at = now
        if also is not None:
            also(session)
        return sessions.start(session, current, policy, sign)

    return sessions.issuing(db, attempt, not_before=user.tokens_not_before)


def change_password(
    db: Database,
    hasher: Hasher,
    user_id: int,
    current: str,
    new: str,
    keep_session: str | None,
    *,
    also: Callable[[Session], None] | None = None,
) -> None:
    """Set a new password; every other session of the user is revoked. ``also`` runs in the
    same transaction once the change is certain (the throttle records the success there).

    As for a login, the account may change while the passwords are hashed: with its row
    locked, it must still hold the hash ``current`` was verified against. Changed or reset
    meanwhile (``create-admin --promote``: the old owner must not take the account back) is
    InvalidCredentials; deleted meanwhile UserNotFound, disabled AccountDisabled."""
    with db.read() as session:
        user = get_user(session, user_id)
    verified = user.password_hash
    if not hasher.verify(verified, current):
        raise InvalidCredentials()
    new_hash = hasher.hash(new)
    with db.transaction() as session:
        user = get_user(session, user_id, for_update=True)
        if user.password_hash != verified:
            raise InvalidCredentials()
        if user.is_disabled:
            raise AccountDisabled()
        user.password_hash = new_hash
        sessions.revoke_user_sessions(session, user_id, "password changed", keep=keep_session)
        if also is not None:
            also(session)


# Users are listed oldest first: by id, the order they were created in.
USERS_ORDER = Order("users", (SortKey(User.__table__.c.id, "int"),))


def list_users(session: Session, *, limit: int, cursor: str | None) -> tuple[list[User], Page, int]:
    """One page of users from ``cursor`` (keyset, as every list: a user added or deleted
    meanwhile never makes a walk through the pages repeat or skip one), and how many there are."""
    page = read_page(
        select(User),
        USERS_ORDER,
        Cursor.decode(cursor, USERS_ORDER) if cursor else None,
        limit,
        lambda query: session.execute(query).all(),
    )
    total = session.scalar(select(func.count()).select_from(User)) or 0
    return [row[0] for row in page.rows], page, total


def _is_active_admin() -> ColumnElement[bool]:
    return and_(User.role == "admin", User.disabled_at.is_(None))


def _lock_active_admins(session: Session) -> None:
    """Lock the row of every active administrator, in id order, before anything is read: two
    transactions that each demote, disable or delete a different administrator then run one
    after the other, and the second counts what the first left (without this, on PostgreSQL,
    each locked only its own target and counted the other as still active: both committed, and
    no administrator was left). Id order, so two such transactions never deadlock. SQLite
    serialises write transactions anyway."""
    session.execute(select(User.id).where(_is_active_admin()).order_by(User.id).with_for_update())


def _active_admins(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User).where(_is_active_admin())) or 0


def update_user(
    db: Database, user_id: int, *, role: str | None = None, disabled: bool | None = None
) -> User:
    with db.transaction() as session:
        _lock_active_admins(session)
        user = get_user(session, user_id, for_update=True)
        was_active_admin = user.role == "admin" and not user.is_disabled
        if role is not None and role != user.role:
            user.role = role
            # The sessions go on (a refresh brings the new role), the old roles' tokens not.
            revocations.revoke_user_tokens(session, user.id, "role changed")
        if disabled is True and not user.is_disabled:
            user.disabled_at = utcnow()
            sessions.revoke_user_sessions(session, user.id, "user disabled")
        elif disabled is False:
            user.disabled_at = None
        session.flush()
        if was_active_admin and _active_admins(session) == 0:
            raise LastAdministrator()
        return user


def delete_user(db: Database, user_id: int) -> None:
    with db.transaction() as session:
        _lock_active_admins(session)
        user = get_user(session, user_id, for_update=True)
        was_active_admin = user.role == "admin" and not user.is_disabled
        sessions.revoke_user_sessions(session, user.id, "user deleted")
        session.delete(user)
        session.flush()
        if was_active_admin and _active_admins(session) == 0:
            raise LastAdministrator()


class AccountExists(Conflict):
    type = "/problems/account-exists"
    title = "Account exists"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"An account named '{name}' exists already; it was not changed. Promoting it "
            "(and setting its password) must be asked for explicitly."
        )


def ensure_admin(
    db: Database, hasher: Hasher, username: str, password: str, *, promote: bool = False
) -> User:
    """Create an administrator. An existing account of that name is refused (AccountExists)
    unless ``promote``: then it becomes an enabled administrator with this password, and
    every session and access token it had is revoked, since whoever registered the name first
    need not be who is being promoted. A new account whose name reads like an existing
    one's is refused (UsernameLookalike), as at registration."""
    name = usernames.normalise(username)
    skeleton = lookalikes.skeleton_key(name)
    password_hash = hasher.hash(password)
    with db.transaction() as session:
        lock_name(session, skeleton)
        user = find_user(session, name)
        if user is None:
            refuse_lookalike(session, name, skeleton)
            user = User(
                username=name,
                username_key=usernames.lookup_key(name),
                username_skeleton=skeleton,
            )
            session.add(user)
        elif not promote:
            raise AccountExists(user.username)
        else:
            sessions.revoke_user_sessions(session, user.id, "promoted to administrator")
        user.password_hash = password_hash
        user.role = "admin"
        user.disabled_at = None
        session.flush()
        return user
