"""Browser sessions: who the browser is (from its cookie), logging in and out, and the user's
access token, refreshed transparently when it is about to expire.

Per request, ``g.browser`` holds the session id (a new one for a browser without a valid
cookie) and the logged-in user's record, or None. Tokens stay here; the browser only ever
sees the signed session id."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask, Response, current_app, g, request

from common.clock import utcnow
from web_service.api_client import ApiClient, ApiProblem, ServiceDown
from web_service.config import CookieSecure
from web_service.cookies import (
    COOKIE_NAME,
    CookieSigner,
    hash_session_id,
    is_anonymous,
    new_session_id,
)
from web_service.session_store import SessionRecord, SessionStore

log = logging.getLogger("estante.web.sessions")
# Refresh a little before the access token expires: a request must not carry one that dies
# on the way, and the clocks of the services may differ by a few seconds.
REFRESH_MARGIN = timedelta(seconds=30)
LOCK_SECONDS = 15.0
WAIT_FOR_OTHER_REFRESH = 10.0


class SessionEnded(Exception):
    """The session is over (logged out elsewhere, refresh token revoked or expired)."""


class RefreshBusy(Exception):
    """Another request has held this session's refresh lock for too long."""


@dataclass
class Browser:
    session_id: str
    user: SessionRecord | None
    cookie_changed: bool = False


def record_from_tokens(
    session_id: str, tokens: dict[str, Any], lifetime: int, created: SessionRecord | None = None
) -> SessionRecord:
    """A session record from the Auth Service's token answer (login, register, refresh)."""
    now = utcnow()
    user = tokens["user"]
    expires_at = now + timedelta(seconds=min(lifetime, int(tokens["refresh_expires_in"])))
    return SessionRecord(
        id_hash=hash_session_id(session_id) if created is None else created.id_hash,
        user_id=int(user["id"]),
        username=str(user["username"]),
        roles=tuple(str(role) for role in user.get("roles", [])),
        access_token=str(tokens["access_token"]),
        access_expires_at=now + timedelta(seconds=int(tokens["expires_in"])),
        refresh_token=str(tokens["refresh_token"]),
        created_at=now if created is None else created.created_at,
        expires_at=expires_at if created is None else min(created.expires_at, expires_at),
    )


class SessionManager:
    def __init__(
        self,
        store: SessionStore,
        signer: CookieSigner,
        auth: ApiClient,
        *,
        lifetime: int,
        cookie_secure: CookieSecure,
    ) -> None:
        self.store = store
        self.signer = signer
        self.auth = auth
        self.lifetime = lifetime
        self.cookie_secure = cookie_secure

    # Per request.

    def load(self) -> None:
        session_id = self.signer.unsign(request.cookies.get(COOKIE_NAME))
        user = None
        if session_id and not is_anonymous(session_id):
            user = self.store.get(hash_session_id(session_id))
        if session_id is None:
            g.browser = Browser(new_session_id(), None, cookie_changed=True)
        else:
            g.browser = Browser(session_id, user)
        if user is not None:
            g.user_id = user.user_id

    def save_cookie(self, response: Response) -> Response:
        browser: Browser | None = g.get("browser")
        if browser is None or not browser.cookie_changed:
            return response
        response.set_cookie(
            COOKIE_NAME,
            self.signer.sign(browser.session_id),
            max_age=self.lifetime,
            path="/",
            secure=self.cookie_is_secure(),
            httponly=True,
            samesite="Lax",
        )
        return response

    def cookie_is_secure(self) -> bool:
        """Whether this answer's cookies carry ``Secure`` (see ``WEB_COOKIE_SECURE``)."""
        return self.cookie_secure is CookieSecure.always or (
            self.cookie_secure is CookieSecure.auto and request.is_secure
        )

    # Logging in and out.

    def start(self, tokens: dict[str, Any]) -> SessionRecord:
        """Log the browser in with the Auth Service's tokens, under a new session id (an id
        known before the log-in, a planted one say, never becomes a logged-in session)."""
        if current_user() is not None:
            self.end()  # registering while logged in: the previous session ends, not lingers
        session_id = new_session_id(logged_in=True)
        record = record_from_tokens(session_id, tokens, self.lifetime)
        self.store.save(record)
        g.browser = Browser(session_id, record, cookie_changed=True)
        g.user_id = record.user_id
        return record

    def end(self) -> bool:
        """Log out: the Auth session ends, then this one. False when the Auth Service could
        not be told (it is down); the browser is logged out here all the same."""
        browser: Browser = g.browser
        told = True
        if browser.user is not None:
            try:
                self.auth.request(
                    "POST", "/logout", json={"refresh_token": browser.user.refresh_token}
                )
            except ApiProblem:
                pass  # already ended there
            except ServiceDown:
                told = False
            self.store.delete(browser.user.id_hash)
        self.forget()
        return told

    def forget(self) -> None:
        """This browser is anonymous from now on, under a fresh session id."""
        old: Browser | None = g.get("browser")
        if old is not None and old.user is not None:
            self.store.delete(old.user.id_hash)
        g.browser = Browser(new_session_id(), None, cookie_changed=True)
        g.pop("user_id", None)

    # Tokens.

    def access_token(self) -> str:
        user = current_user()
        if user is None:
            raise SessionEnded()
        if user.access_expires_at - utcnow() > REFRESH_MARGIN:
            return user.access_token
        return self.refresh(user.access_token).access_token

    def refresh(self, stale_access_token: str) -> SessionRecord:
        """New tokens for this session, one refresh at a time: a request that finds the lock
        taken waits, then uses what the other one stored."""
        browser: Browser = g.browser
        assert browser.user is not None
        id_hash = browser.user.id_hash
        deadline = time.monotonic() + WAIT_FOR_OTHER_REFRESH
        while True:
            if self.store.try_lock(id_hash, LOCK_SECONDS):
                try:
                    return self._refresh_locked(id_hash, stale_access_token)
                finally:
                    self.store.unlock(id_hash)
            time.sleep(0.05)
            latest = self._refreshed_by_another(id_hash, stale_access_token)
            if latest is not None:
                return latest
            if time.monotonic() > deadline:
                raise RefreshBusy()

    def _refreshed_by_another(self, id_hash: str, stale: str) -> SessionRecord | None:
        latest = self.store.get(id_hash)
        if latest is None:
            self.forget()
            raise SessionEnded()
        if latest.access_token != stale and latest.access_expires_at - utcnow() > REFRESH_MARGIN:
            g.browser.user = latest
            return latest
        return None

    def _refresh_locked(self, id_hash: str, stale: str) -> SessionRecord:
        latest = self._refreshed_by_another(id_hash, stale)
        if latest is not None:
            return latest
        record = self.store.get(id_hash)
        assert record is not None  # checked just above
        try:
            response = self.auth.request(
                "POST", "/token/refresh", json={"refresh_token": record.refresh_token}
            )
        except ApiProblem as problem:
            if problem.status in (400, 401, 403, 422):
                self.forget()
                raise SessionEnded() from None
            raise
        tokens = response.json()
        renewed = record_from_tokens("", tokens, self.lifetime, created=record)
        self.store.save(renewed)
        g.browser.user = renewed
        return renewed


def get_sessions() -> SessionManager:
    return current_app.extensions["estante.web.sessions"]


def current_user() -> SessionRecord | None:
    browser: Browser | None = g.get("browser")
    return browser.user if browser is not None else None


def init_sessions(app: Flask, manager: SessionManager) -> None:
    app.extensions["estante.web.sessions"] = manager

    @app.before_request
    def load_session() -> None:
        if request.endpoint in ("static", "healthz", "readyz", "metrics"):
            return
        manager.load()

    app.after_request(manager.save_cookie)
