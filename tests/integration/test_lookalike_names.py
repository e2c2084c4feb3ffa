"""Names that read alike are one name, over real HTTP and with the administrators' commands,
on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from auth_service.lookalikes import skeleton_key
from common import migrations
from common.config import PROJECT_ROOT
from common.db import create_db_engine
from tests.support.harness import STRONG_PASSWORD, Stack

CYRILLIC_A = "\u0430"
# Names on the shared stack must be new each time; digits are Common to every script.
_numbers = itertools.count(int.from_bytes(os.urandom(3), "big"))


def numbered(name: str) -> str:
    return f"{name}_{next(_numbers)}"


def register(stack: Stack, username: str) -> requests.Response:
    return requests.post(
        f"{stack.auth_url}/register",
        json={"username": username, "password": STRONG_PASSWORD},
        timeout=30,
    )


def logs_in(stack: Stack, username: str) -> bool:
    response = requests.post(
        f"{stack.auth_url}/login",
        json={"username": username, "password": STRONG_PASSWORD},
        timeout=30,
    )
    return response.status_code == 200


@pytest.mark.parametrize(
    ("name", "scripts"),
    [
        (f"{CYRILLIC_A}na", "Cyrillic and Latin"),
        (f"p{CYRILLIC_A}ypal", "Latin and Cyrillic"),
        ("\u0391thens", "Greek and Latin"),
    ],
)
def test_a_name_mixing_look_alike_scripts_is_refused_with_422(
    stack: Stack, name: str, scripts: str
) -> None:
    name = numbered(name)
    response = register(stack, name)
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["field"] == "username"
    assert f"mixes letters of {scripts}" in error["message"]
    assert not logs_in(stack, name)


@pytest.mark.parametrize(
    ("existing", "lookalike"),
    [
        ("ace", "асе"),  # the same letters in Cyrillic
        ("ana", "ΑΝΑ"),  # Greek capitals
        ("larry", "Iarry"),  # a capital I
        ("bob", "b0b"),  # a zero
        ("modern", "rnodern"),
    ],
)
def test_a_name_reading_like_an_account_is_refused_with_409(
    stack: Stack, existing: str, lookalike: str
) -> None:
    number = next(_numbers)
    existing, lookalike = f"{existing}_{number}", f"{lookalike}_{number}"
    assert register(stack, existing).status_code == 201
    response = register(stack, lookalike)
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["type"] == "/problems/username-lookalike"
    assert f"reads like the existing account '{existing}'" in body["detail"]
    assert not logs_in(stack, lookalike)
    # The same name in another case is the same account, as before.
    taken = register(stack, existing.upper())
    assert taken.status_code == 409
    assert taken.json()["type"] == "/problems/username-taken"


@pytest.mark.parametrize("name", ["иван", "joão", "Jürgen", "東京tokyo", "서울seoul", "Ελλάδα"])
def test_names_of_one_script_or_an_allowed_mix_register(stack: Stack, name: str) -> None:
    name = numbered(name)
    assert register(stack, name).status_code == 201
    assert logs_in(stack, name)


def test_concurrent_registrations_of_look_alike_names_make_one_user(stack: Stack) -> None:
    number = next(_numbers)
    names = [f"ace_{number}", f"асе_{number}", f"ACE_{number}", f"АСЕ_{number}"] * 3

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        statuses = list(pool.map(lambda name: register(stack, name).status_code, names))
    assert sorted(statuses) == [201] + [409] * (len(names) - 1)


@pytest.fixture(params=["sqlite", "postgres"])
def auth_database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """An Auth database at the newest migration, and the environment the commands need."""
    env = {**os.environ, "ESTANTE_DATA_DIR": str(tmp_path), "ESTANTE_ENV": "test"}
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'auth.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database("lookalikes")
        env["AUTH_DATABASE_URL"] = url
    migrations.upgrade("auth", url)
    return url, env


def seed(url: str, users: list[tuple[int, str, str, str | None]]) -> None:
    """Accounts as an older release wrote them, straight into the table."""
    engine = create_db_engine(url)
    try:
        with engine.begin() as connection:
            for id_, username, role, skeleton in users:
                connection.execute(
                    text(
                        "INSERT INTO users (id, username, username_key, username_skeleton, "
                        "password_hash, role, created_at, updated_at) "
                        "VALUES (:id, :u, :k, :s, 'h', :r, '2026-01-02', '2026-01-02')"
                    ),
                    {"id": id_, "u": username, "k": username.casefold(), "s": skeleton, "r": role},
                )
    finally:
        engine.dispose()


def stored_skeletons(url: str) -> dict[int, str | None]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, username_skeleton FROM users")).all()
    finally:
        engine.dispose()
    return dict(rows)


def command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auth_service.cli", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_lists_older_accounts_that_read_alike_and_changes_none(
    auth_database: tuple[str, dict[str, str]],
) -> None:
    url, env = auth_database
    seed(
        url,
        [
            (1, "ana", "admin", skeleton_key("ana")),
            (2, "beto", "librarian", skeleton_key("beto")),
            (3, f"{CYRILLIC_A}na", "reader", None),  # mixed scripts, from before the rule
            (4, "Iarry", "librarian", skeleton_key("Iarry")),
            (5, "larry", "reader", "outdated"),
        ],
    )
    before = stored_skeletons(url)

    found = command(env, "confusable-users")
    assert found.returncode == 1, found.stderr
    groups = found.stdout.split("\n\n")[1:3]
    assert "id 1  admin" in groups[0]
    assert "id 3  reader" in groups[0]
    assert "U+0430 CYRILLIC SMALL LETTER A" in groups[0]
    assert "id 4  librarian" in groups[1]
    assert "id 5  reader" in groups[1]
    assert "id 2" not in found.stdout
    assert "2 account(s) have a missing or outdated stored skeleton" in found.stderr
    assert stored_skeletons(url) == before  # a report changes nothing

    updated = command(env, "confusable-users", "--update-skeletons")
    assert updated.returncode == 1
    assert "updated the stored skeleton of 2 account(s)" in updated.stdout
    assert stored_skeletons(url) == {**before, 3: skeleton_key("ana"), 5: skeleton_key("larry")}
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            names = connection.execute(text("SELECT username FROM users ORDER BY id")).scalars()
            assert list(names) == ["ana", "beto", f"{CYRILLIC_A}na", "Iarry", "larry"]
    finally:
        engine.dispose()


def test_the_command_says_no_collisions_when_names_differ(
    auth_database: tuple[str, dict[str, str]],
) -> None:
    url, env = auth_database
    seed(url, [(1, "ana", "admin", skeleton_key("ana")), (2, "anna", "reader", None)])
    found = command(env, "confusable-users")
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith("no collisions")
    made = subprocess.run(
        ["make", "--no-print-directory", "confusable-users"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert "no collisions" in made.stdout


def test_create_admin_refuses_a_name_reading_like_an_account(
    auth_database: tuple[str, dict[str, str]],
) -> None:
    url, env = auth_database
    seed(url, [(1, "ana", "reader", skeleton_key("ana"))])
    env = {**env, "ESTANTE_ADMIN_PASSWORD": "a long admin passphrase"}
    refused = command(env, "create-admin", "--username", "ΑΝΑ")
    assert refused.returncode == 1
    assert "reads like the existing account 'ana'" in refused.stderr
    mixed = command(env, "create-admin", "--username", f"{CYRILLIC_A}na")
    assert mixed.returncode == 2
    assert "mixes letters of Cyrillic and Latin" in mixed.stderr
    # Nor is the first administrator from the environment taken for the look-alike account.
    bootstrap = command({**env, "ESTANTE_ADMIN_USERNAME": "ΑΝΑ"}, "confusable-users")
    assert bootstrap.returncode == 2
    assert "ESTANTE_ADMIN_USERNAME: The username 'ΑΝΑ' reads like" in bootstrap.stderr
    assert set(stored_skeletons(url)) == {1}
