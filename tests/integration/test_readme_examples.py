"""The README's examples run as written (pointed at the test services)."""

from __future__ import annotations

import re
import subprocess
import sys

from common.config import PROJECT_ROOT
from tests.support.harness import Stack


def python_examples() -> list[str]:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)


def test_the_python_client_example_runs(stack: Stack) -> None:
    (example,) = python_examples()
    assert len(example.strip().splitlines()) <= 16
    code = example.replace("http://localhost:5001", stack.auth_url).replace(
        "http://localhost:5002", stack.books_url
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Dom Casmurro" in result.stdout


def shell_examples() -> list[str]:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.*?)```", readme, flags=re.DOTALL)


def test_the_spec_curl_examples_run_as_written(own_stack: Stack) -> None:
    # A fresh catalog, as in the spec: the book it adds is book 1, which it then updates.
    spec_flow = next(block for block in shell_examples() if "Novo Livro" in block)
    script = spec_flow.replace("http://localhost:5001", own_stack.auth_url).replace(
        "http://localhost:5002", own_stack.books_url
    )
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    out = re.sub(r'":\s+', '":', result.stdout)
    assert '"token_type":"Bearer"' in out
    assert '"title":"Novo Livro"' in out
    assert '"title":"Livro Atualizado"' in out
    assert "problem" not in out  # no request of the spec's flow failed


def test_the_token_lifecycle_examples_run(stack: Stack) -> None:
    blocks = shell_examples()
    spec_flow = next(block for block in blocks if "Novo Livro" in block)
    lifecycle = next(block for block in blocks if "/token/refresh" in block)
    # The lifecycle example follows the spec's (it reuses its user and $TOKEN).
    script = (spec_flow.split("# List (public)")[0] + lifecycle).replace(
        "http://localhost:5001", stack.auth_url
    )
    script = script.replace("user1", "user2_readme")
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    out = re.sub(r'":\s+', '":', result.stdout)
    assert '"refresh_token":' in out
    assert '"active":true' in out
    assert '"username":"user2_readme"' in out


def test_the_api_sections_book_life_runs(stack: Stack) -> None:
    block = next(b for b in shell_examples() if "merge-patch+json" in b and "AUTH=" in b)
    script = (
        block.replace("http://localhost:5001", stack.auth_url).replace(
            "http://localhost:5002", stack.books_url
        )
        # Then show where the book went: its URL answers 404 once deleted.
        + '\ncurl -s -o /dev/null -w "after delete: %{http_code}\\n" $BOOKS$BOOK\n'
    )
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    out = re.sub(r'":\s+', '":', result.stdout)
    assert '"copies":2' in out and '"version":2' in out  # the patch was applied
    assert '"action":"updated"' in out  # and recorded
    assert re.search(r"(?im)^X-Total-Count: \d+", out)
    assert "after delete: 404" in out
