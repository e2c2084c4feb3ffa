"""nginx in front of the replicas, configured from the deployment's own template."""

from __future__ import annotations

import shutil
from pathlib import Path

from common.config import PROJECT_ROOT

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_config(
    listen: int,
    auth_ports: list[int],
    books_ports: list[int],
    run_dir: Path,
    web_ports: list[int] | None = None,
) -> str:
    """``deploy/nginx.conf.template`` filled in for replicas on these local ports. Without web
    replicas, / is served by a port nothing listens on (502), as when they are all down."""
    # Only ${NAME} placeholders are ours ($host and friends are nginx's), as with
    # `envsubst '${LISTEN} ${RUN_DIR} ...'` in the container image.
    config = (PROJECT_ROOT / "deploy" / "nginx.conf.template").read_text()
    values = dict(
        LISTEN=f"127.0.0.1:{listen}",
        RUN_DIR=str(run_dir),
        RESOLVER="127.0.0.1",  # never asked: these servers are addresses, not names
        AUTH_SERVERS=" ".join(
            f"server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;" for port in auth_ports
        ),
        BOOKS_SERVERS=" ".join(
            f"server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;" for port in books_ports
        ),
        WEB_SERVERS=" ".join(
            f"server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;" for port in web_ports or [9]
        ),
    )
    for name, value in values.items():
        config = config.replace("${" + name + "}", value)
    return config
