"""Small HTTP clients of the running services: log-in and the bearer header."""

from __future__ import annotations

from typing import Any

import requests

from tests.support.harness import STRONG_PASSWORD, Stack


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header that presents ``token``."""
    return {"Authorization": f"Bearer {token}"}


def login(stack: Stack, username: str, password: str = STRONG_PASSWORD) -> dict[str, Any]:
    """Log in through ``POST /login``, which must succeed; its body (tokens and user)."""
    response = requests.post(
        f"{stack.auth_url}/login", json={"username": username, "password": password}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()
