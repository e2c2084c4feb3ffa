"""The README's first screen and the links between the documents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from common.config import PROJECT_ROOT

DOCUMENTS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def test_slug_follows_github() -> None:
    assert slug("The spec's examples") == "the-specs-examples"
    assert slug("Names that look alike are one name") == "names-that-look-alike-are-one-name"
    assert slug("Reading: pages, order, filters, search") == "reading-pages-order-filters-search"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_local_link_reaches_a_file_and_heading(document: Path) -> None:
    broken = []
    for target in LINK.findall(document.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        file_part, _, anchor = target.partition("#")
        linked = (document.parent / file_part).resolve() if file_part else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no such heading")
    assert not broken, f"{document.name}: " + "; ".join(broken)


def test_the_readme_first_screen_says_what_estante_is_how_to_start_it_and_where() -> None:
    first_screen = "\n".join(
        (PROJECT_ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:30]
    )
    assert "catalog" in first_screen
    for needed in (
        "make run",
        "make test",
        "http://localhost:5001",
        "http://localhost:5002",
        "http://localhost:5003/",
        "/docs",
    ):
        assert needed in first_screen, needed
    assert re.search(r"cover\s+\d+(\.\d)?% of the code", first_screen), "the coverage figure"


def test_the_moved_reference_is_linked_from_the_readme() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/configuration.md)" in readme
    assert "](docs/catalog.md)" in readme
    assert "| `ARGON2_MEMORY_KIB` |" not in readme  # the table lives in docs/configuration.md
