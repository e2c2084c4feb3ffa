"""The Books Service's JWKS cache against malformed answers: a bad entry is skipped, a bad
document changes nothing, and neither ever raises anything but the documented errors."""

from __future__ import annotations

import base64
import http.client
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from jwt.utils import to_base64url_uint

from books_service import jwks
from books_service.jwks import JwksCache, JwksUnavailable, fetch_jwks, parse_jwks
from common.tokens import UnknownSigningKey


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def good_key(kid: str) -> dict[str, str]:
    public = Ed25519PrivateKey.generate().public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}


def rsa_key(kid: str) -> dict[str, str]:
    numbers = generate_private_key(public_exponent=65537, key_size=2048).public_key()
    public = numbers.public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "n": to_base64url_uint(public.n).decode(),
        "e": to_base64url_uint(public.e).decode(),
    }


BAD_ENTRIES: dict[str, Any] = {
    "the audit's entry (x a number)": {"kid": "bad", "kty": "OKP", "crv": "Ed25519", "x": 5},
    "a string": "not a key",
    "a number": 42,
    "null": None,
    "a list": [good_key("in-a-list")],
    "no kid": {k: v for k, v in good_key("x").items() if k != "kid"},
    "an empty kid": {**good_key("x"), "kid": ""},
    "a numeric kid": {**good_key("x"), "kid": 7},
    "no kty": {k: v for k, v in good_key("no-kty").items() if k != "kty"},
    "an unknown kty": {**good_key("unknown-kty"), "kty": "XYZ"},
    "a kty of the wrong type": {**good_key("kty-list"), "kty": ["OKP"]},
    "another curve": {**good_key("x448"), "crv": "Ed448"},
    "a curve of the wrong type": {**good_key("crv-number"), "crv": 25519},
    "x not base64url": {**good_key("bad-x"), "x": "!!!"},
    "x too short": {**good_key("short-x"), "x": "AAAA"},
    "no x": {k: v for k, v in good_key("no-x").items() if k != "x"},
    "another algorithm": {**good_key("rs"), "alg": "RS256"},
    "an algorithm of the wrong type": {**good_key("alg-number"), "alg": 1},
    "an encryption key": {**good_key("enc"), "use": "enc"},
    "an RSA key": rsa_key("rsa"),
    "an HMAC secret": {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
}


@pytest.mark.parametrize("name", BAD_ENTRIES)
def test_a_bad_entry_is_skipped_and_logged_and_the_good_keys_work(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    document = {"keys": [BAD_ENTRIES[name], good_key("good")]}
    cache = JwksCache("x", fetch=lambda _url, _timeout: document)
    with caplog.at_level(logging.WARNING, logger="estante.jwks"):
        assert cache.key_for("good")
        assert cache.ensure_keys()
    assert set(parse_jwks(document)) == {"good"}
    assert any("skipping" in record.message for record in caplog.records)


def test_an_entry_whose_kid_names_a_bad_key_is_an_unknown_key() -> None:
    document = {"keys": [BAD_ENTRIES["the audit's entry (x a number)"], good_key("good")]}
    cache = JwksCache("x", fetch=lambda _url, _timeout: document)
    with pytest.raises(UnknownSigningKey):
        cache.key_for("bad")


NOT_A_JWKS: dict[str, Any] = {
    "keys not a list": {"keys": {"kid": "a"}},
    "keys a string": {"keys": "a"},
    "keys null": {"keys": None},
    "no keys": {"kid": "a"},
    "an empty key list": {"keys": []},
    "only bad entries": {"keys": [None, "x", {"kid": "bad", "kty": "OKP", "x": 5}]},
    "a list": [good_key("a")],
    "a string": "keys",
    "null": None,
}


@pytest.mark.parametrize("name", NOT_A_JWKS)
def test_a_document_that_is_not_a_jwks_keeps_the_last_good_keys(name: str) -> None:
    clock = FakeClock()
    answers = iter([{"keys": [good_key("a")]}, NOT_A_JWKS[name]])
    cache = JwksCache("x", max_age=60, clock=clock, fetch=lambda _u, _t: next(answers))
    assert cache.key_for("a")
    clock.now += 61  # stale: the next check fetches, and gets the bad document
    assert cache.key_for("a")
    assert cache.ensure_keys()


@pytest.mark.parametrize(
    "error",
    [
        OSError("connection refused"),
        ValueError("bad JSON"),
        http.client.IncompleteRead(b"{"),
        RecursionError("nested too deeply"),
        TypeError("surprise"),
    ],
)
def test_any_fetch_failure_keeps_the_last_good_keys(error: Exception) -> None:
    clock, calls = FakeClock(), []

    def fetch(_url: str, _timeout: float) -> dict:
        calls.append(clock.now)
        if len(calls) > 1:
            raise error
        return {"keys": [good_key("a")]}

    cache = JwksCache("x", max_age=60, clock=clock, fetch=fetch)
    assert cache.key_for("a")
    clock.now += 61
    assert cache.key_for("a")
    assert len(calls) == 2


def test_without_any_usable_key_verification_is_unavailable_not_an_error() -> None:
    cache = JwksCache("x", fetch=lambda _u, _t: {"keys": [BAD_ENTRIES["a string"]]})
    with pytest.raises(JwksUnavailable):
        cache.key_for("a")
    assert not cache.ensure_keys()


class FakeResponse(io.BytesIO):
    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def serve(monkeypatch: pytest.MonkeyPatch, body: bytes) -> Callable[[], dict]:
    monkeypatch.setattr(
        jwks.urllib.request, "urlopen", lambda _request, timeout: FakeResponse(body)
    )
    return lambda: fetch_jwks("http://auth.invalid/jwks.json", 1.0)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b"",
        b'{"keys": [',
        b"\xff\xfe not utf-8",
        b"[" * 100_000 + b"]" * 100_000,
        b'["a", "list"]',
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    monkeypatch: pytest.MonkeyPatch, body: bytes
) -> None:
    fetch = serve(monkeypatch, body)
    with pytest.raises((ValueError, RecursionError)):
        fetch()


def test_a_huge_body_is_refused_without_reading_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [good_key(f"k{i}") for i in range(3000)]
    body = json.dumps({"keys": keys}).encode()
    assert len(body) > jwks.MAX_JWKS_BYTES
    with pytest.raises(ValueError, match="larger than"):
        serve(monkeypatch, body)()
    cache = JwksCache("x", fetch=lambda _u, _t: serve(monkeypatch, body)())
    with pytest.raises(JwksUnavailable):
        cache.key_for("k1")


def test_a_good_body_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    document = {"keys": [good_key("a")]}
    assert serve(monkeypatch, json.dumps(document).encode())() == document


@pytest.mark.parametrize(
    "content",
    ["not json", "[1, 2]", '{"keys": 5}', '{"keys": [null, "x"]}', "[" * 100_000],
)
def test_a_bad_cache_file_is_ignored(tmp_path: Path, content: str) -> None:
    cache_file = tmp_path / "jwks.json"
    cache_file.write_text(content, encoding="utf-8")
    cache = JwksCache("x", cache_file=cache_file, fetch=lambda _u, _t: {"keys": [good_key("a")]})
    assert cache.key_for("a")  # fetched, since the file held nothing usable
    assert set(parse_jwks(json.loads(cache_file.read_text(encoding="utf-8")))) == {"a"}


def test_a_cache_file_with_one_bad_entry_still_serves_the_good_ones(tmp_path: Path) -> None:
    cache_file = tmp_path / "jwks.json"
    document = {"keys": [BAD_ENTRIES["the audit's entry (x a number)"], good_key("a")]}
    cache_file.write_text(json.dumps(document), encoding="utf-8")

    def down(_url: str, _timeout: float) -> dict:
        raise OSError("connection refused")

    assert JwksCache("x", cache_file=cache_file, fetch=down).key_for("a")
