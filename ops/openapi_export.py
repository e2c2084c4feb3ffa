"""Write each service's OpenAPI document to ``docs/openapi/`` (``make openapi``).

The committed copies make every API change visible in review: a test fails when what a
running service serves differs from them.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from common.config import PROJECT_ROOT

OPENAPI_DIR = PROJECT_ROOT / "docs" / "openapi"


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build_documents() -> dict[str, dict[str, Any]]:
    from auth_service.app import create_app as create_auth_app
    from auth_service.app import prepare as prepare_auth
    from auth_service.config import AuthSettings
    from books_service.app import create_app as create_books_app
    from books_service.config import BooksSettings

    with tempfile.TemporaryDirectory() as data_dir:
        auth_settings = AuthSettings(data_dir=Path(data_dir))
        prepare_auth(auth_settings)  # the app needs a signing key to exist
        auth = create_auth_app(auth_settings).api_doc
        books_settings = BooksSettings(data_dir=Path(data_dir), import_worker=False)
        books = create_books_app(books_settings).api_doc
    return {"auth": auth, "books": books}


def main() -> None:
    OPENAPI_DIR.mkdir(parents=True, exist_ok=True)
    for name, document in build_documents().items():
        path = OPENAPI_DIR / f"{name}.json"
        path.write_text(render(document), encoding="utf-8")
        print(f"wrote {path.relative_to(PROJECT_ROOT)}")


if __name__ == "__main__":
    main()
