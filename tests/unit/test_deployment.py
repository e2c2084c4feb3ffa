"""The deployment files: the compose file is valid Compose, the Dockerfiles lint clean and run
the spec's commands as a non-root user, and the proxy configuration is valid nginx."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from common.config import PROJECT_ROOT
from tests.support.nginx import NGINX, nginx_config

BIN = Path(sys.executable).parent
COMPOSE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILES = {
    "auth_service": (PROJECT_ROOT / "auth_service" / "Dockerfile", 5001),
    "books_service": (PROJECT_ROOT / "books_service" / "Dockerfile", 5002),
    "web_service": (PROJECT_ROOT / "web_service" / "Dockerfile", 5003),
}
# Open-source nginx re-resolves upstream server names ("server books:5002 resolve;") since this.
NGINX_RESOLVE_SINCE = (1, 27, 3)


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def nginx_version() -> tuple[int, ...]:
    banner = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=False).stderr
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", banner)
    assert found, banner
    return tuple(int(part) for part in found.groups())


def nginx_test(config: str, directory: Path) -> subprocess.CompletedProcess[str]:
    assert "${" not in config
    (directory / "nginx.conf").write_text(config)
    return subprocess.run(
        [NGINX, "-t", "-c", str(directory / "nginx.conf"), "-p", str(directory)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


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
        "web",
        "proxy",
    ):
        assert re.search(rf"^  {re.escape(service)}:$", text, re.MULTILINE), service
    assert "condition: service_completed_successfully" in text  # migrations before the apps
    volumes = compose()["volumes"]
    assert set(volumes) == {"postgres-data", "auth-keys", "auth-data", "books-data"}
    # Only the proxy publishes a port, so `--scale books=3` has nothing to collide on.
    assert text.count("ports:") == 1


def test_the_services_keep_their_data_in_named_volumes() -> None:
    services = compose()["services"]
    for name, volume in (("auth", "auth-data"), ("books", "books-data")):
        assert f"{volume}:/app/data" in services[name]["volumes"], name


def test_secrets_are_files_never_environment_values() -> None:
    document = compose()
    secrets = document["secrets"]
    assert set(secrets) == {"postgres_password", "admin_password", "web_secret_key"}
    for secret in secrets.values():
        assert secret["file"].startswith("./deploy/secrets/")
    text = COMPOSE.read_text()
    # No password is interpolated into the file, hence none in any container's environment
    # (`docker inspect`) or database URL.
    assert "PASSWORD}" not in text and "PASSWORD:-" not in text and "PASSWORD:?" not in text
    services = document["services"]
    for name, service in services.items():
        environment = service.get("environment", {})
        for variable, value in environment.items():
            if variable.endswith("_URL"):
                assert urlsplit(value).password is None, f"{name}: {variable} holds a password"
            assert "PASSWORD" not in variable or variable.endswith("_FILE"), (name, variable)
            if variable.endswith("_FILE"):  # each file it names is a secret it is given
                assert value.removeprefix("/run/secrets/") in service["secrets"], (name, variable)
    # The administrator's password reaches the one job that creates the administrator, not the
    # long-running replicas.
    holders = {name for name, s in services.items() if "admin_password" in s.get("secrets", [])}
    assert holders == {"auth-migrate"}
    # The key signing the web sessions' cookies and CSRF tokens: the web replicas' alone.
    holders = {name for name, s in services.items() if "web_secret_key" in s.get("secrets", [])}
    assert holders == {"web"}
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == (
        "/run/secrets/postgres_password"
    )


def test_every_web_replica_serves_every_browser() -> None:
    """Sessions (with the users' tokens) in Redis and one signing key: a browser's next request
    may reach another replica, and must find its session there. The APIs are reached on the
    internal network, never through the public origin."""
    web = compose()["services"]["web"]
    environment = web["environment"]
    assert environment["REDIS_URL"].startswith("redis://redis:6379/")
    assert environment["WEB_SECRET_KEY_FILE"] == "/run/secrets/web_secret_key"
    assert (environment["AUTH_URL"], environment["BOOKS_URL"]) == (
        "http://auth:5001",
        "http://books:5002",
    )
    assert "ports" not in web
    assert {"auth", "books", "redis"} <= set(web["depends_on"])


def test_the_secrets_never_reach_git_or_an_image() -> None:
    gitignore = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    dockerignore = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    assert "/deploy/secrets/" in gitignore
    assert {"deploy/secrets", ".env"} <= set(dockerignore)


def test_the_env_example_holds_no_secret() -> None:
    """Secrets are files: nothing in the copied .env is a password to forget to change."""
    example = (PROJECT_ROOT / "deploy" / "compose.env.example").read_text()
    settings = [line for line in example.splitlines() if line and not line.startswith("#")]
    assert settings
    for line in settings:
        assert not re.search(r"PASSWORD|SECRET|TOKEN|KEY", line.split("=", 1)[0]), line
    # ...and the commands it gives for the secret files make random ones.
    assert "deploy/secrets/postgres_password" in example
    assert "deploy/secrets/admin_password" in example
    assert "deploy/secrets/web_secret_key" in example
    assert example.count("secrets.token_urlsafe") == 3


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
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed")
    config = nginx_config(8089, [1, 2], [3], tmp_path, web_ports=[4])
    result = nginx_test(config, tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_proxy_finds_replicas_added_or_moved_after_it_started() -> None:
    """`docker compose up -d --scale books=3` after `up -d`: nginx must ask Docker's DNS again,
    not keep the addresses it found at start."""
    proxy = compose()["services"]["proxy"]
    environment = proxy["environment"]
    assert environment["RESOLVER"] == "127.0.0.11"  # Docker's embedded DNS server
    assert environment["AUTH_SERVERS"] == "server auth:5001 resolve;"
    assert environment["BOOKS_SERVERS"] == "server books:5002 resolve;"
    assert environment["WEB_SERVERS"] == "server web:5003 resolve;"
    tag = re.fullmatch(r"nginx:(\d+)\.(\d+)\.(\d+)-alpine", proxy["image"])
    assert tag, proxy["image"]  # a precise version: "resolve" needs a known one
    assert tuple(int(part) for part in tag.groups()) >= NGINX_RESOLVE_SINCE
    template = (PROJECT_ROOT / "deploy" / "nginx.conf.template").read_text()
    assert re.search(r"^\s*resolver \$\{RESOLVER\} valid=5s", template, re.MULTILINE)
    for upstream in (
        "estante_auth",
        "estante_books",
        "estante_web",
    ):  # "resolve" needs a shared-memory zone
        block = re.search(rf"upstream {upstream} \{{(.*?)\}}", template, re.DOTALL)
        assert block and f"zone {upstream} " in block.group(1), upstream


def test_the_compose_proxy_configuration_is_valid_nginx(tmp_path: Path) -> None:
    """The configuration the nginx container renders, checked by the nginx here. This machine
    has no Docker DNS, so the replicas' names become localhost; an nginx older than 1.27.3
    does not know "resolve", so it checks the rest without it."""
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed")
    environment = compose()["services"]["proxy"]["environment"]
    config = (PROJECT_ROOT / "deploy" / "nginx.conf.template").read_text()
    for name in ("LISTEN", "RESOLVER", "AUTH_SERVERS", "BOOKS_SERVERS", "WEB_SERVERS"):
        value = str(environment[name])
        for service in ("auth", "books", "web"):
            value = value.replace(f"server {service}:", "server localhost:")
        if nginx_version() < NGINX_RESOLVE_SINCE:
            value = value.replace(" resolve;", ";")
        config = config.replace("${" + name + "}", value)
    config = config.replace("${RUN_DIR}", str(tmp_path))
    result = nginx_test(config, tmp_path)
    assert result.returncode == 0, result.stderr
