"""The web service's settings: a secret it generates once for development, and production
refusing to start without one of its own."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from common.config import ConfigError
from web_service.config import WebSettings


def test_development_generates_a_private_secret_once(tmp_path: Path) -> None:
    settings = WebSettings(data_dir=tmp_path)
    settings.ensure_secret()
    secret = settings.secret()
    assert len(secret) >= 32
    assert stat.S_IMODE(settings.secret_file.stat().st_mode) == 0o600
    settings.ensure_secret()
    assert settings.secret() == secret  # kept across starts: sessions survive a restart


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    settings = WebSettings(data_dir=tmp_path, environment="production")
    with pytest.raises(ConfigError, match="WEB_SECRET_KEY is not set"):
        settings.check()


@pytest.mark.parametrize("secret", ["short", "change-me-change-me-change-me-change-me"])
def test_production_refuses_a_short_or_placeholder_secret(tmp_path: Path, secret: str) -> None:
    settings = WebSettings(data_dir=tmp_path, environment="production", secret_key=secret)
    with pytest.raises(ConfigError, match="WEB_SECRET_KEY"):
        settings.check()


def test_production_accepts_a_real_secret(tmp_path: Path) -> None:
    settings = WebSettings(
        data_dir=tmp_path, environment="production", secret_key="q" * 20 + "Zx9-Lm2_Pp4wYt7Rr1Ke"
    )
    settings.check()
    assert settings.secret() == settings.secret_key.get_secret_value().encode()  # type: ignore[union-attr]


def test_the_api_urls_lose_their_trailing_slash_and_must_be_http(tmp_path: Path) -> None:
    settings = WebSettings(data_dir=tmp_path, auth_url="http://auth:5001/ ")
    assert settings.auth_url == "http://auth:5001"
    with pytest.raises(ValidationError):
        WebSettings(data_dir=tmp_path, books_url="ftp://books")


def test_the_defaults_are_the_documented_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("WEB_PORT", "AUTH_URL", "BOOKS_URL", "REDIS_URL", "WEB_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = WebSettings(data_dir=tmp_path)
    assert settings.port == 5003
    assert settings.auth_url == "http://127.0.0.1:5001"
    assert settings.books_url == "http://127.0.0.1:5002"
    assert settings.database_url == f"sqlite:///{tmp_path / 'web.db'}"
    assert settings.redis_url is None


def test_an_empty_redis_url_means_none(tmp_path: Path) -> None:
    assert WebSettings(data_dir=tmp_path, redis_url="").redis_url is None
