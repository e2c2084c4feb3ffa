"""The revocation list's one wire format: what it means, how a verifier reads it, and that what
the Auth Service publishes reads back unchanged at the Books Service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auth_service import revocations
from auth_service.app import prepare
from auth_service.config import AuthSettings
from books_service.revocations import parse_revocations
from common.db import Database
from common.revocation_list import EMPTY, RevocationList, read_revocation_list


def document(users: dict[str, Any] | None = None, sessions: list[Any] | None = None) -> dict:
    return {"issued_at": 100, "grace": 180, "users": users or {}, "sessions": sessions or []}


def claims(sub: str = "7", iat: Any = 500, sid: Any = "s1") -> dict[str, Any]:
    return {"sub": sub, "iat": iat, "sid": sid}


def test_what_the_list_revokes() -> None:
    revoked, _ = read_revocation_list(document({"7": 500}, ["ended"]))
    assert revoked.revokes(claims(iat=499))  # issued before the user's "not before"
    assert not revoked.revokes(claims(iat=500))  # at it or after: a later login
    assert not revoked.revokes(claims(sub="8", iat=1))  # another user
    assert revoked.revokes(claims(sub="8", sid="ended"))  # a revoked session
    assert not revoked.revokes(claims(sub="8", sid="other"))
    assert not revoked.revokes(claims(sub="8", sid=["ended"]))  # not a sid at all
    assert revoked.revokes(claims(iat="499"))  # a named user's token without a usable iat
    assert not EMPTY.revokes(claims())


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        "users",
        {"users": [], "sessions": []},
        {"users": {}, "sessions": {}},
        {"users": {}},
        {"sessions": []},
        {"users": {}, "sessions": [], "issued_at": "now"},
        {"users": {}, "sessions": [], "issued_at": float("nan")},
    ],
)
def test_a_document_that_is_not_a_revocation_list_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        read_revocation_list(bad)


def test_malformed_entries_are_skipped_and_counted() -> None:
    parsed, skipped = read_revocation_list(
        document(
            {"1": "soon", "2": None, "3": True, "4": float("inf"), "5": 900, "6": 1.5},
            ["good", 7, None, "", ["nested"]],
        )
    )
    assert skipped == 4 + 4
    assert parsed.users == {"5": 900, "6": 2}
    assert parsed.sessions == ["good"]
    # iat claims are integers: 1 < 1.5 and 1 < 2 refuse the same tokens.
    assert parsed.revokes(claims(sub="6", iat=1))
    assert not parsed.revokes(claims(sub="6", iat=2))


def test_the_books_service_logs_what_it_skips(caplog: pytest.LogCaptureFixture) -> None:
    parsed = parse_revocations(document({"7": "soon"}, ["good"]))
    assert parsed.sessions == ["good"]
    assert "skipping malformed revocations" in caplog.text


def test_an_older_publisher_without_issued_at_or_grace_is_read() -> None:
    parsed, skipped = read_revocation_list({"users": {"7": 5}, "sessions": []})
    assert (parsed.issued_at, parsed.grace, skipped) == (0, 0, 0)
    assert parsed.revokes(claims(iat=4))


def test_a_list_survives_its_json_unchanged() -> None:
    published = RevocationList(
        issued_at=1767225600, grace=180, users={"7": 1767225000}, sessions=["a" * 32, "b" * 32]
    )
    read, skipped = read_revocation_list(json.loads(json.dumps(published.to_document())))
    assert (read, skipped) == (published, 0)
    assert read.revokes(claims(sid="b" * 32))


def test_what_the_auth_service_publishes_the_books_service_reads(tmp_path: Path) -> None:
    settings = AuthSettings(data_dir=tmp_path)
    prepare(settings)
    db = Database(settings.database_url)
    try:
        with db.transaction() as session:
            revocations.revoke_user_tokens(session, 7, "test")
            revocations.revoke_session_tokens(session, [("s" * 32, 8, None)], "test")
        with db.read() as session:
            published = revocations.published(session)
    finally:
        db.dispose()
    read = parse_revocations(json.loads(json.dumps(published.to_document())))
    assert read == published
    assert read.revokes(claims(sub="7", iat=read.users["7"] - 1, sid=None))
    assert not read.revokes(claims(sub="7", iat=read.users["7"], sid=None))
    assert read.revokes(claims(sub="8", sid="s" * 32))
    assert not read.revokes(claims(sub="8", sid="t" * 32))
