"""Start the Books Service: ``python books_service/books_service.py`` (port 5002 by default).

Runs the one-time preparation (migrations), then serves the app with the production WSGI
server and the configured number of workers. Settings come from the environment; see README.
Run by a Python that lacks the dependencies, it re-runs itself under the project's ``.venv``.
"""

import sys
from pathlib import Path

# Run as a script, Python puts this file's folder first on sys.path, where this very file would
# shadow the books_service package. Put the project root there instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from common.bootstrap import run_under_project_environment  # noqa: E402 (standard library only)

# A Python without the dependencies (the system's) re-runs this under .venv, or says what to run.
run_under_project_environment(__file__)

from common.server import serve  # noqa: E402

if __name__ == "__main__":
    serve(
        "books_service.config:BooksSettings",
        "books_service.preparation:prepare",
        "books_service.app:create_app",
    )
