"""CSRF tokens and the signed session cookie."""

from __future__ import annotations

from web_service.cookies import CookieSigner, hash_session_id, is_anonymous, new_session_id
from web_service.csrf import csrf_token, csrf_valid

SECRET = b"a secret of this installation, long enough to be real"
OTHER_SECRET = b"the secret of another installation, just as long......"


def test_a_sessions_own_token_is_valid() -> None:
    session_id = new_session_id()
    assert csrf_valid(SECRET, session_id, csrf_token(SECRET, session_id))


def test_a_token_of_another_session_is_refused() -> None:
    token = csrf_token(SECRET, new_session_id())
    assert not csrf_valid(SECRET, new_session_id(), token)


def test_a_token_made_under_another_secret_is_refused() -> None:
    session_id = new_session_id()
    assert not csrf_valid(SECRET, session_id, csrf_token(OTHER_SECRET, session_id))


def test_missing_empty_or_oversized_tokens_are_refused() -> None:
    session_id = new_session_id()
    assert not csrf_valid(SECRET, session_id, None)
    assert not csrf_valid(SECRET, session_id, "")
    assert not csrf_valid(SECRET, session_id, "x" * 10_000)
    assert not csrf_valid(SECRET, None, csrf_token(SECRET, ""))


def test_a_forged_token_differing_in_one_character_is_refused() -> None:
    session_id = new_session_id()
    token = csrf_token(SECRET, session_id)
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert not csrf_valid(SECRET, session_id, forged)


def test_a_signed_session_id_reads_back() -> None:
    signer = CookieSigner(SECRET)
    session_id = new_session_id()
    assert signer.unsign(signer.sign(session_id)) == session_id


def test_a_tampered_cookie_is_no_session() -> None:
    signer = CookieSigner(SECRET)
    value = signer.sign(new_session_id())
    tampered = ("B" if value[0] != "B" else "C") + value[1:]
    assert signer.unsign(tampered) is None
    assert signer.unsign(new_session_id()) is None  # an unsigned id
    assert signer.unsign("") is None
    assert signer.unsign(None) is None
    assert signer.unsign("é" * 50) is None


def test_a_cookie_from_another_installation_is_no_session() -> None:
    value = CookieSigner(OTHER_SECRET).sign(new_session_id())
    assert CookieSigner(SECRET).unsign(value) is None


def test_session_ids_are_random_and_stored_only_as_hashes() -> None:
    ids = {new_session_id() for _ in range(1000)}
    assert len(ids) == 1000
    session_id = ids.pop()
    assert len(session_id) >= 45  # a prefix and 32 random bytes
    assert is_anonymous(session_id)
    assert not is_anonymous(new_session_id(logged_in=True))
    assert hash_session_id(session_id) != session_id
    assert len(hash_session_id(session_id)) == 64
