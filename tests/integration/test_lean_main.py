"""A service's main process supervises its workers and nothing more: the preparation ran in a
child that has exited, and the main never loaded the app's libraries (40-50 MB it would keep
for as long as the service runs). Seen from outside, in the shared objects each process maps."""

from __future__ import annotations

from pathlib import Path

from tests.support.harness import build_stack

# Shared objects of libraries only the app uses: pydantic, SQLAlchemy, Flask (markupsafe),
# PyJWT (cryptography) and argon2.
APP_LIBRARIES = ("_pydantic_core", "sqlalchemy", "markupsafe", "cryptography", "argon2")


def mapped_libraries(pid: int) -> set[str]:
    paths = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and ".so" in fields[5]:
            paths.add(fields[5])
    return paths


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def app_libraries(pid: int) -> set[str]:
    return {name for name in APP_LIBRARIES for path in mapped_libraries(pid) if name in path}


def test_the_main_processes_never_load_the_app_and_the_workers_do(tmp_path: Path) -> None:
    stack = build_stack(tmp_path, "sqlite", with_web=True)
    try:
        for service in stack.services():
            service.start()
        for service in stack.services():
            assert service.process is not None
            main = service.process.pid
            workers = children(main)
            assert len(workers) == 2, service.name  # the preparation child has exited
            assert app_libraries(main) == set(), service.name
            for worker in workers:
                assert "_pydantic_core" in app_libraries(worker), service.name
        assert {"sqlalchemy", "argon2"} <= app_libraries(children(stack.auth.process.pid)[0])
    finally:
        stack.stop()
