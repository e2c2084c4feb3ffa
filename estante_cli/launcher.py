"""``python -m estante_cli.launcher DEST``: write the ``estante`` command for this checkout.

``make install`` puts it in ``.venv/bin``: the project itself is not pip-installed (that would
need setuptools in the environment, which new virtual environments no longer have, and must
not touch the locked dependencies). The launcher is the small script pip would have written:
it runs this checkout's ``estante_cli`` with the environment's Python, from any directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# A shell line that Python reads as a string: the script runs under the Python named here even
# when its path has spaces, which a "#!" line cannot hold (pip writes the same).
TEMPLATE = """#!/bin/sh
'''exec' {python} "$0" "$@"
' '''
# The estante command of {root}, written by `make install`.
import sys

sys.path.insert(0, {root!r})
from estante_cli.main import main

sys.exit(main())
"""


def write_launcher(destination: Path, python: Path, root: Path) -> None:
    quoted = "'" + str(python).replace("'", "'\\''") + "'"
    text = TEMPLATE.format(python=quoted, root=str(root))
    temporary = destination.with_name(f".{destination.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.chmod(temporary, 0o755)  # noqa: S103 (a program, as every file in .venv/bin)
    os.replace(temporary, destination)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m estante_cli.launcher DESTINATION")
    write_launcher(
        Path(sys.argv[1]),
        python=Path(sys.executable),
        root=Path(__file__).resolve().parent.parent,
    )
