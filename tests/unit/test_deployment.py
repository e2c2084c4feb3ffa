"""The deployment files: the compose file is valid Compose, the Dockerfiles lint clean and run
the spec's commands as a non-root user, and the proxy configuration is valid nginx."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from common.config import PROJECT_ROOT

BIN = Path(sys.executable).parent
COMPOSE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILES = {
    "auth_service": (PROJECT_ROOT / "auth_service" / "Dockerfile", 5001),
    "books_service": (PROJECT_ROOT / "books_service" / "Dockerfile", 5002),
}


def test_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_has_the_whole_topology() -> None:
    text = COMPOSE.read_text()
    for service in (
        "postgres",
        "redis",
        "auth-keys",
        "auth-migrate",
        "books-migrate",
        "auth",
        "books",
        "proxy",
    ):
        assert re.search(rf"^  {re.escape(service)}:$", text, re.MULTILINE), service
    assert "condition: service_completed_successfully" in text  # migrations before the apps
    assert "${POSTGRES_PASSWORD:?" in text  # secrets come from the env file, not the file
    assert re.search(r"^volumes:\n  postgres-data:\n  auth-keys:", text, re.MULTILINE)
    # Only the proxy publishes a port, so `--scale books=3` has nothing to collide on.
    assert text.count("ports:") == 1


@pytest.mark.parametrize("service", list(DOCKERFILES))
def test_dockerfiles_lint_clean(service: str) -> None:
    dockerfile, _ = DOCKERFILES[service]
    result = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", list(DOCKERFILES))
def test_dockerfiles_run_the_spec_command_as_a_non_root_user(service: str) -> None:
    dockerfile, port = DOCKERFILES[service]
    lines = dockerfile.read_text().splitlines()
    user = next(i for i, line in enumerate(lines) if line.startswith("USER "))
    cmd = next(i for i, line in enumerate(lines) if line.startswith("CMD "))
    assert user < cmd
    assert lines[user].split()[1].split(":")[0] not in ("0", "root")
    assert json.loads(lines[cmd][4:]) == ["python", f"{service}/{service}.py"]
    text = dockerfile.read_text()
    assert "--require-hashes -r requirements.lock" in text
    assert f"EXPOSE {port}" in text
    assert 'VOLUME ["/app/data"]' in text
    assert "/readyz" in text


def test_the_proxy_configuration_is_valid_nginx(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx is not installed")
    from tests.integration.test_cluster import nginx_config

    class Fake:
        def __init__(self, port: int) -> None:
            self.port = port

    config = nginx_config(8089, [Fake(1), Fake(2)], [Fake(3)], tmp_path)  # type: ignore[list-item]
    assert "${" not in config
    (tmp_path / "nginx.conf").write_text(config)
    result = subprocess.run(
        [nginx, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
