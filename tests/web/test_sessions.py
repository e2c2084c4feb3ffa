"""Pure pieces of the browser sessions: a session record from the Auth Service's tokens, and
where a log-in may send the browser back to."""

from __future__ import annotations

from datetime import timedelta

import pytest

from common.clock import utcnow
from web_service.cookies import hash_session_id
from web_service.sessions import record_from_tokens
from web_service.views.support import safe_next

TOKENS = {
    "access_token": "header.claims.signature",
    "token_type": "Bearer",
    "expires_in": 900,
    "refresh_token": "opaque-refresh",
    "refresh_expires_in": 14 * 86400,
    "user": {"id": 7, "username": "ana", "roles": ["librarian"]},
}


def test_a_record_holds_the_user_and_both_tokens_under_the_ids_hash() -> None:
    record = record_from_tokens("u.session-id", TOKENS, lifetime=86400)
    assert record.id_hash == hash_session_id("u.session-id")
    assert (record.user_id, record.username, record.roles) == (7, "ana", ("librarian",))
    assert record.access_token == "header.claims.signature"
    assert record.refresh_token == "opaque-refresh"
    assert abs(record.access_expires_at - (utcnow() + timedelta(seconds=900))).total_seconds() < 5


def test_a_session_lives_no_longer_than_its_refresh_token_nor_the_setting() -> None:
    short_refresh = {**TOKENS, "refresh_expires_in": 600}
    record = record_from_tokens("u.x", short_refresh, lifetime=86400)
    assert record.expires_at - record.created_at <= timedelta(seconds=601)
    record = record_from_tokens("u.x", TOKENS, lifetime=3600)
    assert record.expires_at - record.created_at <= timedelta(seconds=3601)


def test_a_refresh_keeps_the_session_and_its_end_but_takes_new_tokens_and_roles() -> None:
    first = record_from_tokens("u.x", TOKENS, lifetime=86400)
    renewed_tokens = {
        **TOKENS,
        "access_token": "new.access.token",
        "refresh_token": "new-refresh",
        "user": {"id": 7, "username": "ana", "roles": ["admin"]},
    }
    renewed = record_from_tokens("", renewed_tokens, lifetime=86400, created=first)
    assert renewed.id_hash == first.id_hash
    assert renewed.created_at == first.created_at
    assert renewed.expires_at <= first.expires_at
    assert (renewed.access_token, renewed.refresh_token) == ("new.access.token", "new-refresh")
    assert renewed.roles == ("admin",)


@pytest.mark.parametrize(
    ("target", "where"),
    [
        ("/books/new", "/books/new"),
        ("/?q=machado&sort=title", "/?q=machado&sort=title"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_after_logging_in_the_browser_goes_only_to_a_local_page(
    target: str | None, where: str
) -> None:
    assert safe_next(target) == where
