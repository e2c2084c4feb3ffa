"""HTTP to the services: one :class:`Service` per base URL, and :class:`Api`, which adds the
logged-in user's bearer token (refreshing it when needed) to the requests that need one.

Every failure becomes a :class:`~estante_cli.errors.CliError` with one clear line: a refused
connection names the service and its URL, an error answer is its problem+json summary."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from estante_cli import __version__
from estante_cli.credentials import CredentialStore, Login
from estante_cli.errors import ApiProblem, CliError, NotLoggedIn, Unreachable

USER_AGENT = f"estante-cli/{__version__}"


def timeout(seconds: float) -> httpx.Timeout:
    """Connecting takes at most 5 s (or ``seconds`` if shorter); reading and writing a chunk
    at most ``seconds``: a long download or upload is fine as long as it keeps moving."""
    return httpx.Timeout(seconds, connect=min(seconds, 5.0))


@dataclass
class Service:
    """One service: its name (for messages), its base URL, the HTTP client."""

    name: str
    base_url: str
    http: httpx.Client

    def url(self, path: str) -> str:
        """The URL of ``path`` (a next-page link is already absolute)."""
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + path

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer, whatever its status; connection failures raised as :class:`Unreachable`."""
        with self._connection_errors():
            return self.http.request(method, self._target(path, kwargs), **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer; an error status raised as :class:`ApiProblem`."""
        return self.check(self.send(method, path, **kwargs))

    @contextlib.contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed answer (status checked; read its body with ``iter_bytes``)."""
        with (
            self._connection_errors(),
            self.http.stream(method, self._target(path, kwargs), **kwargs) as response,
        ):
            if response.is_error:
                response.read()
                self.check(response)
            yield response

    def _target(self, path: str, kwargs: dict[str, Any]) -> httpx.URL:
        """The URL with ``params`` added to the query it already has (a next-page link's
        cursor): httpx would replace that query with ``params``, even an empty one."""
        url = httpx.URL(self.url(path))
        params = kwargs.pop("params", None)
        return url.copy_merge_params(params) if params else url

    def check(self, response: httpx.Response) -> httpx.Response:
        if response.is_error:
            raise ApiProblem(response.status_code, problem_body(response), self.name)
        return response

    @contextlib.contextmanager
    def _connection_errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.ConnectError:
            raise Unreachable(f"the {self.name} at {self.base_url} is not reachable") from None
        except httpx.TimeoutException:
            raise Unreachable(
                f"the {self.name} at {self.base_url} did not answer in time (see --timeout)",
                maybe_delivered=True,
            ) from None
        except httpx.TransportError as error:
            raise Unreachable(
                f"the connection to the {self.name} at {self.base_url} failed: {error}",
                maybe_delivered=True,
            ) from None
        except httpx.InvalidURL as error:
            raise CliError(f"invalid {self.name} URL {self.base_url!r}: {error}") from None


def problem_body(response: httpx.Response) -> dict[str, Any] | None:
    """The problem+json (or JSON) body of an error answer, if it has one."""
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class Api:
    """The two services and the login session of the Auth Service's URL."""

    def __init__(
        self, auth_url: str, books_url: str, store: CredentialStore, seconds: float = 30.0
    ) -> None:
        self.seconds = seconds
        self.http = httpx.Client(
            timeout=timeout(seconds), headers={"User-Agent": USER_AGENT}, follow_redirects=False
        )
        self.auth = Service("Auth Service", auth_url.rstrip("/"), self.http)
        self.books = Service("Books Service", books_url.rstrip("/"), self.http)
        self.store = store

    def close(self) -> None:
        self.http.close()

    # The session -----------------------------------------------------------------------------

    def login(self, username: str, password: str) -> Login:
        """Log in and save the session (ending the one saved before, if any)."""
        body = self.auth.request(
            "POST", "/login", json={"username": username, "password": password}
        ).json()
        login = Login.from_token_response(body)
        with self.store.locked():
            previous = self.store.get(self.auth.base_url)
            self.store.put(self.auth.base_url, login)
        if previous is not None and previous.refresh_token != login.refresh_token:
            with contextlib.suppress(CliError):  # a courtesy: it expires anyway
                self.auth.send("POST", "/logout", json={"refresh_token": previous.refresh_token})
        return login

    def logout(self, *, local_only: bool = False) -> Login | None:
        """End the saved session at the Auth Service and forget it; the session, or None if
        there was none. Unless ``local_only``, the file is kept when the service cannot be
        reached: the session would otherwise stay valid with no way left to end it."""
        with self.store.locked():
            login = self.store.get(self.auth.base_url)
            if login is None:
                return None
            if not local_only:
                self.auth.request("POST", "/logout", json={"refresh_token": login.refresh_token})
            self.store.remove(self.auth.base_url)
        return login

    def current_login(self) -> Login:
        login = self.store.get(self.auth.base_url)
        if login is None:
            raise NotLoggedIn(f"not logged in at {self.auth.base_url}: run `estante login`")
        return login

    def access_token(self, rejected: str | None = None, margin: float = 30.0) -> str:
        """A usable access token: the saved one, or a new one from the refresh token. A token
        the service ``rejected`` is never given back."""
        login = self.current_login()
        if login.access_token != rejected and login.access_token_usable(margin):
            return login.access_token
        with self.store.locked():
            # Another estante process may have refreshed (or logged out) while this one waited.
            login = self.current_login()
            if login.access_token != rejected and login.access_token_usable(margin):
                return login.access_token
            login = self._refresh(login)
            self.store.put(self.auth.base_url, login)
        return login.access_token

    def _refresh(self, login: Login) -> Login:
        body = {"refresh_token": login.refresh_token}
        try:
            response = self.auth.send("POST", "/token/refresh", json=body)
        except Unreachable as error:
            if not error.maybe_delivered:
                raise
            # The answer was lost, perhaps after the token was spent: the Auth Service accepts
            # the same refresh token again for a few seconds (REFRESH_REUSE_GRACE_SECONDS).
            response = self.auth.send("POST", "/token/refresh", json=body)
        if response.status_code == 401:
            self.store.remove(self.auth.base_url)
            raise NotLoggedIn(
                f"your session at {self.auth.base_url} has ended (logged out, expired or "
                "revoked): run `estante login`"
            )
        self.auth.check(response)
        return Login.from_token_response(response.json(), logged_in_at=login.logged_in_at)

    # Requests as the logged-in user ----------------------------------------------------------

    def authorized(
        self,
        service: Service,
        method: str,
        path: str,
        *,
        build: Callable[[], dict[str, Any]] | None = None,
        margin: float = 30.0,
        **kwargs: Any,
    ) -> httpx.Response:
        """``method path`` with the bearer token; once more with a new token if the service
        says the token is no good (401). ``build`` makes request arguments that can be used
        only once (an open file to upload), for each attempt."""
        token = self.access_token(margin=margin)
        response = service.send(method, path, **self._with_token(token, build, kwargs))
        if response.status_code == 401:
            token = self.access_token(rejected=token, margin=margin)
            response = service.send(method, path, **self._with_token(token, build, kwargs))
        return service.check(response)

    @contextlib.contextmanager
    def authorized_stream(
        self, service: Service, method: str, path: str, **kwargs: Any
    ) -> Iterator[httpx.Response]:
        token = self.access_token()
        with contextlib.ExitStack() as stack:
            try:
                response = stack.enter_context(
                    service.stream(method, path, **self._with_token(token, None, kwargs))
                )
            except ApiProblem as problem:
                if problem.status != 401:
                    raise
                token = self.access_token(rejected=token)
                response = stack.enter_context(
                    service.stream(method, path, **self._with_token(token, None, kwargs))
                )
            yield response

    @staticmethod
    def _with_token(
        token: str, build: Callable[[], dict[str, Any]] | None, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        arguments = {**kwargs, **(build() if build else {})}
        arguments["headers"] = {**arguments.get("headers", {}), "Authorization": f"Bearer {token}"}
        return arguments
