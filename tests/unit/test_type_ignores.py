"""Every ``type: ignore`` in the code mypy checks names its error code and says why."""

from __future__ import annotations

import re

from common.config import PROJECT_ROOT

PACKAGES = ("auth_service", "books_service", "web_service", "common", "ops", "estante_cli")
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<code>\[[a-z-, ]+\])?(?P<rest>.*)$")


def unexplained(lines: list[str]) -> list[int]:
    """Line numbers of ignores without a code, or without a reason (a comment after the
    ignore on its line, or a comment line just above)."""
    found = []
    for number, line in enumerate(lines, start=1):
        match = IGNORE.search(line)
        if not match:
            continue
        reason_after = match["rest"].strip().startswith("#")
        reason_above = number > 1 and lines[number - 2].strip().startswith("#")
        if not match["code"] or not (reason_after or reason_above):
            found.append(number)
    return found


def test_unexplained_finds_ignores_without_code_or_reason() -> None:
    assert unexplained(
        [
            "x = f()  # type: ignore",
            "y = f()  # type: ignore[attr-defined]",
            "z = f()  # type: ignore[attr-defined]  # the stub lacks it",
            "# the stub lacks it",
            "w = f()  # type: ignore[attr-defined]",
        ]
    ) == [1, 2]


def test_every_type_ignore_has_a_code_and_a_reason() -> None:
    offending = [
        f"{path.relative_to(PROJECT_ROOT)}:{number}"
        for package in PACKAGES
        for path in sorted((PROJECT_ROOT / package).glob("**/*.py"))
        for number in unexplained(path.read_text(encoding="utf-8").splitlines())
    ]
    assert not offending, offending
