"""The production topology, for real, without Docker: nginx in front of two auth, two books and two
web replicas on the machine's PostgreSQL and Redis."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.harness import (
    STRONG_PASSWORD,
    Service,
    all_books,
    free_port,
    requests_total,
    wait_until_healthy,
)
from tests.support.nginx import NGINX, nginx_config
from tests.support.tcp_proxy import TcpProxy

REDIS_URL = os.environ.get("ESTANTE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REFRESH_LIMIT = 6


@dataclass
class Cluster:
    url: str
    auth: list[Service]
    books: list[Service]
    web: list[Service]
    books_database: TcpProxy  # the books replicas reach PostgreSQL through it

    @property
    def auth_url(self) -> str:
        return f"{self.url}/api/auth"

    @property
    def books_url(self) -> str:
        return f"{self.url}/api/books"

    def token(self) -> str:
        response = requests.post(
            f"{self.auth_url}/register",
            timeout=10,
            json={"username": f"c_{uuid.uuid4().hex[:12]}", "password": STRONG_PASSWORD},
        )
        assert response.status_code == 201, response.text
        return response.json()["access_token"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not os.path.exists(NGINX):
        if os.environ.get("ESTANTE_REQUIRE_NGINX") == "1":
            pytest.fail("ESTANTE_REQUIRE_NGINX=1 but nginx is not installed")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as error:
        reason = f"Redis not reachable at {REDIS_URL}: {error}"
        if os.environ.get("ESTANTE_REQUIRE_REDIS") == "1":
            pytest.fail(f"ESTANTE_REQUIRE_REDIS=1 but {reason}")
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("cluster")
    request_postgres = _postgres_server()
    auth_db = request_postgres.create_database("cluster_auth")
    books_database = TcpProxy(("127.0.0.1", 5432), free_port()).start()
    books_db = request_postgres.create_database("cluster_books").replace(
        "127.0.0.1:5432", f"127.0.0.1:{books_database.port}"
    )
    proxy_port = free_port()
    shared = {
        "ESTANTE_ENV": "test",
        "ESTANTE_WORKERS": "2",
        "ESTANTE_LOG_LEVEL": "WARNING",
        "ESTANTE_TRUSTED_PROXIES": "1",
        "AUTH_KEYS_DIR": str(base / "keys"),  # every auth replica signs with the same keys
        "REDIS_URL": REDIS_URL,
        "RATE_LIMIT_KEY_PREFIX": f"estante-cluster-{uuid.uuid4().hex[:8]}",
        "RATE_LIMIT_REGISTER": "1000 per minute",
        # Low, to see it hold across the replicas; no other test here refreshes.
        "RATE_LIMIT_REFRESH": f"{REFRESH_LIMIT} per minute",
        "LOGIN_THROTTLE_FREE_ATTEMPTS": "3",
    }
    auth, books = [], []
    for i in range(2):
        data = base / f"auth{i}"
        auth.append(
            Service(
                "auth_service",
                {**shared, "ESTANTE_DATA_DIR": str(data), "AUTH_DATABASE_URL": auth_db},
                log_path=_log(data, "auth.log"),
            )
        )
    for i in range(2):
        data = base / f"books{i}"
        books.append(
            Service(
                "books_service",
                {
                    **shared,
                    "ESTANTE_DATA_DIR": str(data),
                    "BOOKS_DATABASE_URL": books_db,
                    "AUTH_JWKS_URL": f"http://127.0.0.1:{proxy_port}/api/auth/.well-known/jwks.json",
                },
                log_path=_log(data, "books.log"),
            )
        )
    # The web replicas reach both APIs through the proxy, as the browser's origin does; their
    # sessions live in Redis, so any replica serves any browser.
    web = [
        Service(
            "web_service",
            {
                **shared,
                "ESTANTE_DATA_DIR": str(base / f"web{i}"),
                "AUTH_URL": f"http://127.0.0.1:{proxy_port}/api/auth",
                "BOOKS_URL": f"http://127.0.0.1:{proxy_port}/api/books",
                "WEB_SECRET_KEY": "the same secret on every web replica, for the test",
                "WEB_REDIS_KEY_PREFIX": shared["RATE_LIMIT_KEY_PREFIX"] + "-web",
            },
            log_path=_log(base / f"web{i}", "web.log"),
        )
        for i in range(2)
    ]
    run_dir = base / "nginx"
    run_dir.mkdir()
    config = nginx_config(
        proxy_port,
        [s.port for s in auth],
        [s.port for s in books],
        run_dir,
        web_ports=[s.port for s in web],
    )
    (run_dir / "nginx.conf").write_text(config)
    nginx = None
    try:
        for service in auth + books + web:
            service.start()
        nginx = subprocess.Popen(
            [NGINX, "-c", str(run_dir / "nginx.conf"), "-p", str(run_dir), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=(run_dir / "error.log").open("wb"),
        )
        wait_until_healthy(f"http://127.0.0.1:{proxy_port}/api/books", nginx)
        yield Cluster(f"http://127.0.0.1:{proxy_port}", auth, books, web, books_database)
    finally:
        books_database.stop()
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=10)
        for service in web + auth + books:
            if service.process is not None and service.process.poll() is None:
                service.stop()
        request_postgres.drop_all()


def _log(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name


def _postgres_server():
    from tests.support.postgres import (
        POSTGRES_ADMIN_URL,
        PostgresServer,
        postgres_unavailable_reason,
    )

    reason = postgres_unavailable_reason()
    if reason:
        if os.environ.get("ESTANTE_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return PostgresServer(POSTGRES_ADMIN_URL)


def test_the_spec_flow_through_the_proxy(cluster: Cluster) -> None:
    token = cluster.token()
    auth = {"Authorization": f"Bearer {token}"}
    created = requests.post(
        f"{cluster.books_url}/books",
        json={"title": "Novo Livro", "author": "Autor Desconhecido"},
        headers=auth,
        timeout=10,
    )
    assert created.status_code == 201
    book = created.json()
    # Links carry the proxy's prefix, so they work from outside.
    assert created.headers["Location"] == f"/api/books/books/{book['id']}"
    assert requests.get(cluster.url + created.headers["Location"], timeout=10).json() == book
    updated = requests.put(
        f"{cluster.books_url}/books/{book['id']}",
        headers=auth,
        timeout=10,
        json={"title": "Livro Atualizado", "author": "Autor Famoso"},
    )
    assert updated.status_code == 200
    assert (
        requests.delete(
            f"{cluster.books_url}/books/{book['id']}", headers=auth, timeout=10
        ).status_code
        == 204
    )
    assert requests.get(f"{cluster.books_url}/books/{book['id']}", timeout=10).status_code == 404
    assert requests.get(f"{cluster.url}/", timeout=10, allow_redirects=True).status_code == 200


def test_the_web_interface_is_served_at_the_root(cluster: Cluster) -> None:
    page = requests.get(f"{cluster.url}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "<h1>Catalog</h1>" in page.text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    # Its assets come from the same origin, through the proxy.
    style = requests.get(f"{cluster.url}/static/estante.css", timeout=10)
    assert style.status_code == 200 and style.headers["Content-Type"].startswith("text/css")


def test_a_login_through_the_proxy_holds_on_every_web_replica(cluster: Cluster) -> None:
    """The browser logs in through nginx; its next pages, whichever web replica serves them,
    find its session (in Redis) and call both APIs through the proxy with its token."""
    username = f"web_{uuid.uuid4().hex[:10]}"
    registered = requests.post(
        f"{cluster.auth_url}/register",
        json={"username": username, "password": STRONG_PASSWORD},
        timeout=10,
    )
    assert registered.status_code == 201, registered.text
    browser = requests.Session()
    form = browser.get(f"{cluster.url}/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    response = browser.post(
        f"{cluster.url}/login",
        data={
            "username": username,
            "password": STRONG_PASSWORD,
            "next": "/books/new",
            "csrf_token": token.group(1),
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 303, response.text
    assert "/books/new" in response.headers["Location"]
    cookie = next(c for c in browser.cookies if c.name == "estante_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    # nginx alternates: four pages reach both replicas.
    for _ in range(4):
        page = browser.get(f"{cluster.url}/books/new", allow_redirects=False, timeout=10)
        assert page.status_code == 200, page.headers.get("Location")
        assert username in page.text
    for replica in cluster.web:
        metrics = requests.get(f"{replica.url}/metrics", timeout=10).text
        assert requests_total(metrics, "GET", "/books/new", 200) > 0, replica.url


def test_a_burst_of_writes_over_both_replicas_loses_nothing(cluster: Cluster) -> None:
    token = cluster.token()
    marker = uuid.uuid4().hex[:8]

    def post(i: int) -> requests.Response:
        return requests.post(
            f"{cluster.books_url}/books",
            timeout=30,
            json={"title": f"burst {marker} {i}", "author": "x"},
            headers={"Authorization": f"Bearer {token}"},
        )

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(post, range(60)))
    assert [r.status_code for r in responses] == [201] * 60
    titles = {b["title"] for b in all_books(cluster.books_url, cluster.url)}
    assert {f"burst {marker} {i}" for i in range(60)} <= titles
    # Both replicas took part.
    for replica in cluster.books:
        metrics = requests.get(f"{replica.url}/metrics", timeout=10).text
        assert requests_total(metrics, "POST", "/books", 201) > 0


def test_login_throttling_holds_across_replicas(cluster: Cluster) -> None:
    name = f"victim_{uuid.uuid4().hex[:8]}"
    requests.post(
        f"{cluster.auth_url}/register",
        timeout=10,
        json={"username": name, "password": STRONG_PASSWORD},
    )
    statuses = [
        requests.post(
            f"{cluster.auth_url}/login",
            timeout=10,
            json={"username": name, "password": "wrong guess"},
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 401]
    # Whichever replica answers (nginx alternates), the block holds: it lives in PostgreSQL.
    for _ in range(6):
        response = requests.post(
            f"{cluster.auth_url}/login",
            timeout=10,
            json={"username": name, "password": STRONG_PASSWORD},
        )
        assert response.status_code == 429


def test_the_rate_limit_holds_across_auth_replicas(cluster: Cluster) -> None:
    """The counters live in Redis: two replicas, one limit. Counted per replica, twice as many
    refreshes would get through before the first 429."""
    before = {
        replica.url: requests.get(f"{replica.url}/metrics", timeout=10).text
        for replica in cluster.auth
    }
    statuses = [
        requests.post(
            f"{cluster.auth_url}/token/refresh",
            json={"refresh_token": f"not-a-real-token-{i}"},
            timeout=10,
        ).status_code
        for i in range(2 * REFRESH_LIMIT)
    ]
    assert statuses == [401] * REFRESH_LIMIT + [429] * REFRESH_LIMIT
    # Both replicas answered some of them (nginx alternates), and both refused some.
    for replica in cluster.auth:
        metrics = requests.get(f"{replica.url}/metrics", timeout=10).text
        old = before[replica.url]
        for status in (401, 429):
            answered = requests_total(metrics, "POST", "/token/refresh", status)
            assert answered > requests_total(old, "POST", "/token/refresh", status), (
                replica.url,
                status,
            )


def test_metrics_are_not_served_through_the_proxy(cluster: Cluster) -> None:
    host, port = urlsplit(cluster.url).hostname, urlsplit(cluster.url).port
    for path in (
        "/metrics",
        "/api/auth/metrics",
        "/api/books/metrics",
        "/api/books//metrics",
        "/api/books/%6detrics",
        "/api/books/books/../metrics",
        "/api/auth/metrics/?x=1",
    ):
        # http.client sends the path as written (requests would tidy it up first).
        connection = http.client.HTTPConnection(host or "127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read().decode()
        finally:
            connection.close()
        assert response.status == 404, path
        assert response.getheader("Content-Type") == "application/problem+json", path
        assert "estante_http_requests_total" not in body
    # The replicas still serve them, on the internal network, to the monitoring system.
    for replica in cluster.auth + cluster.books + cluster.web:
        metrics = requests.get(f"{replica.url}/metrics", timeout=10).text
        assert "estante_http_requests_total" in metrics
    # And everything else passes as before.
    assert requests.get(f"{cluster.books_url}/healthz", timeout=10).status_code == 200


def test_a_database_outage_reaches_clients_as_the_services_503(cluster: Cluster) -> None:
    """With the database away every replica answers 503 (problem+json, Retry-After). The proxy
    must pass that on, not count it as a failed replica: taking each replica out in turn would
    leave clients with nginx's own 502 page, even for a while after the database is back."""
    book = requests.get(f"{cluster.books_url}/books", timeout=10)
    assert book.status_code == 200
    cluster.books_database.stop()
    try:
        for _ in range(6):  # more than the replicas, so each is asked more than once
            response = requests.get(f"{cluster.books_url}/books?limit=1", timeout=30)
            assert response.status_code == 503, response.text
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.headers["Retry-After"] == "5"
    finally:
        cluster.books_database.start()
    deadline = time.monotonic() + 20
    while requests.get(f"{cluster.books_url}/books", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the replicas did not come back with the database"
        time.sleep(0.2)
    # Served by every replica again at once: none was taken out of the proxy's rotation.
    statuses = {
        requests.get(f"{cluster.books_url}/books", timeout=30).status_code for _ in range(4)
    }
    assert statuses == {200}


def test_killing_a_books_replica_mid_load_loses_no_acknowledged_write(cluster: Cluster) -> None:
    token = cluster.token()
    marker = uuid.uuid4().hex[:8]
    acknowledged: list[int] = []
    failures: list[int] = []
    after_kill: list[int] = []
    killed = threading.Event()
    stop = threading.Event()

    def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                response = requests.post(
                    f"{cluster.books_url}/books",
                    timeout=30,
                    json={"title": f"load {marker} {n}-{i}", "author": "x"},
                    headers={"Authorization": f"Bearer {token}"},
                )
            except requests.RequestException:
                failures.append(-1)
                continue
            if response.status_code == 201:
                acknowledged.append(response.json()["id"])
                if killed.is_set():
                    after_kill.append(response.json()["id"])
            else:
                failures.append(response.status_code)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    cluster.books[0].kill()
    killed.set()
    time.sleep(2.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    assert len(after_kill) > 10, "the proxy stopped serving after one replica died"
    stored = {b["id"] for b in all_books(cluster.books_url, cluster.url)}
    lost = set(acknowledged) - stored
    assert not lost, f"acknowledged writes lost: {sorted(lost)}"
    assert set(failures) <= {502, 503, -1}, failures
