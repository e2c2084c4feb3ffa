"""``python -m estante_cli``: the same as the ``estante`` command."""

from estante_cli.main import main

main()
