"""An in-memory Books API for the web service in process (httpx's mock transport), so a test
sees every call the web service makes and decides every answer; and a browser logged in to it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx
from flask import Flask
from flask.testing import FlaskClient

from web_service.cookies import COOKIE_NAME, new_session_id
from web_service.sessions import record_from_tokens

HTMX = {"HX-Request": "true"}


def book(n: int, title: str) -> dict[str, object]:
    return {"id": n, "title": title, "author": "Cecília Meireles", "language": "pt", "version": 1}


@dataclass
class FakeBooks:
    """A Books API holding one catalog: its ETag changes with every change, as the real one's.
    ``DELETE /books/<id>`` deletes; ``down`` refuses every connection."""

    books: list[dict[str, object]] = field(default_factory=list)
    version: int = 1
    seen: list[httpx.Request] = field(default_factory=list)
    etags: bool = True
    down: bool = False
    jobs: dict[int, dict[str, object]] = field(default_factory=dict)  # import jobs by id

    def change(self, books: list[dict[str, object]]) -> None:
        self.books = books
        self.version += 1

    @property
    def page_reads(self) -> list[httpx.Request]:
        """The reads of catalog pages (not of the version: ``limit=1``)."""
        return [r for r in self.seen if r.method == "GET" and r.url.params.get("limit") != "1"]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        self.seen.append(request)
        if request.method == "DELETE":
            book_id = int(request.url.path.rsplit("/", 1)[1])
            self.change([b for b in self.books if b["id"] != book_id])
            return httpx.Response(204)
        if request.url.path.startswith("/imports/"):
            return httpx.Response(200, json=self.jobs[int(request.url.path.split("/")[2])])
        if request.url.path != "/books":  # one book
            book_id = int(request.url.path.rsplit("/", 1)[1])
            found = [b for b in self.books if b["id"] == book_id]
            if not found:
                return httpx.Response(404, json={"title": "Not Found"})
            return httpx.Response(200, json=found[0], headers={"ETag": '"1"'})
        tag = f'W/"{self.version}-{request.url.query.decode()}"'
        if self.etags and request.headers.get("If-None-Match") == tag:
            return httpx.Response(304, headers={"ETag": tag})
        headers = {"X-Total-Count": str(len(self.books)), "Content-Type": "application/json"}
        if self.etags:
            headers["ETag"] = tag
        return httpx.Response(200, content=json.dumps(self.books).encode(), headers=headers)


def logged_in(web: Flask, role: str, username: str = "ana") -> FlaskClient:
    """A browser with a session of a user with ``role``, as logging in would leave it."""
    manager = web.extensions["estante.web.sessions"]
    session_id = new_session_id(logged_in=True)
    tokens = {
        "access_token": "a.b.c",
        "expires_in": 900,
        "refresh_token": "r",
        "refresh_expires_in": 86400,
        "user": {"id": 7, "username": username, "roles": [role]},
    }
    manager.store.save(record_from_tokens(session_id, tokens, lifetime=3600))
    client = web.test_client()
    client.set_cookie(COOKIE_NAME, manager.signer.sign(session_id))
    return client
