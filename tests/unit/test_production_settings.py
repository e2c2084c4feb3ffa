"""Settings from files (``NAME_FILE``), the database password kept out of the URL, and
production's refusal of empty, placeholder or well-known secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from auth_service.config import AuthSettings
from auth_service.keys import generate_key
from books_service.config import BooksSettings
from common.config import ConfigError

# The values deploy/compose.env.example used to hold: copied unchanged, they must not run.
OLD_EXAMPLE_DATABASE_PASSWORD = "change-me-to-a-long-random-string"
OLD_EXAMPLE_ADMIN_PASSWORD = "change-me-too-a-long-passphrase"
POSTGRES = "postgresql://estante@db.internal:5432/estante_books"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "DATABASE_URL",
        "AUTH_DATABASE_URL",
        "BOOKS_DATABASE_URL",
        "DATABASE_PASSWORD",
        "ESTANTE_ADMIN_USERNAME",
        "ESTANTE_ADMIN_PASSWORD",
        "REDIS_URL",
        "ESTANTE_DEBUG",
    ):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    monkeypatch.setenv("ESTANTE_DATA_DIR", str(tmp_path / "data"))


def secret_file(tmp_path: Path, content: str, name: str = "secret") -> str:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return str(path)


def production_auth(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AuthSettings:
    keys = tmp_path / "keys"
    generate_key(keys)
    monkeypatch.setenv("ESTANTE_ENV", "production")
    monkeypatch.setenv("AUTH_KEYS_DIR", str(keys))
    return AuthSettings()


def refusal(settings: AuthSettings | BooksSettings) -> str:
    with pytest.raises(ConfigError) as refused:
        settings.check()
    return str(refused.value)


# Settings from files ----------------------------------------------------------------------


def test_a_setting_can_come_from_a_file_without_its_final_newline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = secret_file(tmp_path, "Ünïcode and spaces, kept \n")
    monkeypatch.setenv("ESTANTE_ADMIN_PASSWORD_FILE", path)
    password = AuthSettings().admin_password
    assert password is not None
    assert password.get_secret_value() == "Ünïcode and spaces, kept "


def test_a_setting_and_its_file_together_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ESTANTE_ADMIN_PASSWORD", "one long passphrase")
    monkeypatch.setenv("ESTANTE_ADMIN_PASSWORD_FILE", secret_file(tmp_path, "another one"))
    with pytest.raises(ConfigError, match="ESTANTE_ADMIN_PASSWORD and ESTANTE_ADMIN_PASSWORD_FILE"):
        AuthSettings()


def test_an_unreadable_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"DATABASE_PASSWORD_FILE: cannot read .*missing"):
        BooksSettings()


def test_a_setting_whose_name_ends_in_file_is_still_a_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cache = tmp_path / "not-yet-written.json"
    monkeypatch.setenv("JWKS_CACHE_FILE", str(cache))
    assert BooksSettings().jwks_cache_path == cache  # a path, not a file to read a value from


# The database password, out of the URL ----------------------------------------------------


@pytest.mark.parametrize("password", ["p@ss/word:with%all#the?odd&chars", "ünï cødé"])
def test_the_database_password_may_hold_any_character(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, password: str
) -> None:
    monkeypatch.setenv("BOOKS_DATABASE_URL", POSTGRES)
    monkeypatch.setenv("DATABASE_PASSWORD_FILE", secret_file(tmp_path, password + "\n"))
    url = make_url(BooksSettings().database_url)
    assert url.password == password
    assert (url.username, url.host, url.port, url.database) == (
        "estante",
        "db.internal",
        5432,
        "estante_books",
    )


def test_a_database_password_twice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKS_DATABASE_URL", "postgresql://estante:inline@db/estante_books")
    monkeypatch.setenv("DATABASE_PASSWORD", "from the file")
    with pytest.raises(ConfigError, match="BOOKS_DATABASE_URL/DATABASE_URL has a password too"):
        BooksSettings()


def test_a_database_password_for_sqlite_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_PASSWORD", "for nothing")
    with pytest.raises(ConfigError, match="DATABASE_PASSWORD is set but the database is SQLite"):
        AuthSettings()


# Production refuses secrets that are not secret ---------------------------------------------


def test_production_refuses_the_example_admin_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ESTANTE_ADMIN_USERNAME", "admin")
    path = secret_file(tmp_path, OLD_EXAMPLE_ADMIN_PASSWORD + "\n")
    monkeypatch.setenv("ESTANTE_ADMIN_PASSWORD_FILE", path)
    message = refusal(production_auth(monkeypatch, tmp_path))
    assert "ESTANTE_ADMIN_PASSWORD is still the example's placeholder" in message
    assert "set ESTANTE_ADMIN_PASSWORD (or ESTANTE_ADMIN_PASSWORD_FILE)" in message
    assert OLD_EXAMPLE_ADMIN_PASSWORD not in message  # a refused secret is still not shown


def test_production_refuses_a_placeholder_password_in_the_database_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ESTANTE_ENV", "production")
    monkeypatch.setenv(
        "BOOKS_DATABASE_URL",
        f"postgresql://estante:{OLD_EXAMPLE_DATABASE_PASSWORD}@postgres:5432/estante_books",
    )
    message = refusal(BooksSettings())
    assert "the password in BOOKS_DATABASE_URL/DATABASE_URL is still the example's" in message


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        (OLD_EXAMPLE_DATABASE_PASSWORD, "is still the example's placeholder"),
        ("CHANGEME", "is still the example's placeholder"),
        ("my-example-password-2024", "is still the example's placeholder"),
        ("postgres", "is a well-known default"),
        ("Password", "is a well-known default"),
    ],
)
def test_production_refuses_an_unfit_database_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, reason: str
) -> None:
    monkeypatch.setenv("ESTANTE_ENV", "production")
    monkeypatch.setenv("BOOKS_DATABASE_URL", POSTGRES)
    monkeypatch.setenv("DATABASE_PASSWORD_FILE", secret_file(tmp_path, value))
    message = refusal(BooksSettings())
    assert f"DATABASE_PASSWORD {reason}" in message or (f"DATABASE_PASSWORD is {reason}" in message)
    assert "set DATABASE_PASSWORD (or DATABASE_PASSWORD_FILE) to a real secret" in message


def test_production_refuses_an_empty_admin_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ESTANTE_ADMIN_USERNAME", "admin")
    monkeypatch.setenv("ESTANTE_ADMIN_PASSWORD", "")
    assert "ESTANTE_ADMIN_PASSWORD is empty" in refusal(production_auth(monkeypatch, tmp_path))


def test_production_names_every_unfit_secret_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AUTH_DATABASE_URL", "postgresql://estante@postgres/estante_auth")
    monkeypatch.setenv("DATABASE_PASSWORD", "changeme")
    monkeypatch.setenv("ESTANTE_ADMIN_PASSWORD", OLD_EXAMPLE_ADMIN_PASSWORD)
    monkeypatch.setenv("REDIS_URL", "redis://:secret@redis:6379/0")
    problems = production_auth(monkeypatch, tmp_path).secret_problems()
    assert sorted(problems) == [
        "DATABASE_PASSWORD is still the example's placeholder: set DATABASE_PASSWORD "
        "(or DATABASE_PASSWORD_FILE) to a real secret.",
        "ESTANTE_ADMIN_PASSWORD is still the example's placeholder: set ESTANTE_ADMIN_PASSWORD "
        "(or ESTANTE_ADMIN_PASSWORD_FILE) to a real secret.",
        "the password in REDIS_URL is a well-known default: set REDIS_URL's password to a real "
        "secret.",
    ]


def test_production_accepts_real_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AUTH_DATABASE_URL", "postgresql://estante@postgres/estante_auth")
    monkeypatch.setenv("DATABASE_PASSWORD_FILE", secret_file(tmp_path, "Zq8-uT2vXk4_pL0wRm6sYb\n"))
    monkeypatch.setenv("ESTANTE_ADMIN_USERNAME", "admin")
    monkeypatch.setenv("ESTANTE_ADMIN_PASSWORD", "tortoise lantern orbit velvet")
    monkeypatch.setenv("REDIS_URL", "redis://redis:6379/0")  # no password at all: nothing to check
    settings = production_auth(monkeypatch, tmp_path)
    assert settings.production_problems() == []
    settings.check()


def test_outside_production_the_secrets_are_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESTANTE_ENV", "development")
    monkeypatch.setenv("ESTANTE_ADMIN_PASSWORD", OLD_EXAMPLE_ADMIN_PASSWORD)
    AuthSettings().check()
