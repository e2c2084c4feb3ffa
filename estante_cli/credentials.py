"""The login sessions of the ``estante`` command, kept between runs.

One JSON file in the user's config directory (``$XDG_CONFIG_HOME/estante/credentials.json``),
mode 0600 in a 0700 directory, holding per Auth Service URL the refresh token and the current
access token: never the password. It is only ever replaced whole (written beside, then renamed),
so a reader sees the old file or the new one, never half of one. Refresh tokens rotate (each
refresh spends the old one), so two commands refreshing at once must not both spend it: changes
are made under an exclusive lock on a separate lock file (POSIX ``flock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import typer

from estante_cli.errors import CliError

FILE_NAME = "credentials.json"
LOCK_NAME = "credentials.lock"
FORMAT_VERSION = 1
# An access token this close to its expiry is refreshed first: it must outlive the request.
EXPIRY_MARGIN_SECONDS = 30


def default_config_dir() -> Path:
    """``$XDG_CONFIG_HOME/estante`` (``~/.config/estante``) on Linux, the platform's own place
    elsewhere (Click's ``get_app_dir``)."""
    return Path(typer.get_app_dir("estante"))


@dataclass
class Login:
    """One login session at one Auth Service."""

    username: str
    roles: list[str]
    refresh_token: str
    access_token: str
    access_expires_at: float  # Unix time
    refresh_expires_at: float
    logged_in_at: float = field(default_factory=time.time)

    @classmethod
    def from_token_response(cls, body: dict[str, Any], logged_in_at: float | None = None) -> Login:
        """The session a ``/login`` or ``/token/refresh`` answer describes."""
        now = time.time()
        try:
            user = body["user"]
            return cls(
                username=str(user["username"]),
                roles=[str(role) for role in user.get("roles", [])],
                refresh_token=str(body["refresh_token"]),
                access_token=str(body["access_token"]),
                access_expires_at=now + float(body["expires_in"]),
                refresh_expires_at=now + float(body["refresh_expires_in"]),
                logged_in_at=logged_in_at or now,
            )
        except (KeyError, TypeError, ValueError):
            raise CliError("the Auth Service answered with an unexpected token response") from None

    def access_token_usable(self, margin: float = EXPIRY_MARGIN_SECONDS) -> bool:
        return bool(self.access_token) and self.access_expires_at - margin > time.time()


class CredentialStore:
    """The credentials file of one config directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / FILE_NAME
        self.lock_path = directory / LOCK_NAME

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive lock: read, change and write back without another ``estante``
        process doing the same in between (it waits)."""
        self._make_directory()
        descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    def get(self, auth_url: str) -> Login | None:
        entry = self._read().get(_key(auth_url))
        if entry is None:
            return None
        try:
            return Login(**entry)
        except TypeError:
            raise self._unreadable() from None

    def put(self, auth_url: str, login: Login) -> None:
        """Save the session of ``auth_url`` (call it holding the lock)."""
        logins = self._read()
        logins[_key(auth_url)] = asdict(login)
        self._write(logins)

    def remove(self, auth_url: str) -> bool:
        """Forget the session of ``auth_url``; the file goes when no session is left. Whether
        there was one."""
        logins = self._read()
        if logins.pop(_key(auth_url), None) is None:
            return False
        if logins:
            self._write(logins)
        else:
            self.path.unlink(missing_ok=True)
        return True

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise CliError(f"cannot read {self.path}: {error.strerror}") from None
        try:
            document = json.loads(text)
        except ValueError:
            raise self._unreadable() from None
        logins = document.get("logins") if isinstance(document, dict) else None
        if not isinstance(logins, dict):
            raise self._unreadable()
        return logins

    def _write(self, logins: dict[str, dict[str, Any]]) -> None:
        self._make_directory()
        document = {"version": FORMAT_VERSION, "logins": logins}
        # mkstemp creates the file with mode 0600: the tokens are never readable by others,
        # not even for a moment.
        descriptor, temporary = tempfile.mkstemp(prefix=".credentials-", dir=self.directory)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _make_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _unreadable(self) -> CliError:
        return CliError(
            f"{self.path} is not a credentials file of this version: delete it and log in again"
        )


def _key(auth_url: str) -> str:
    return auth_url.rstrip("/")
