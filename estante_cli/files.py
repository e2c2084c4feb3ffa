"""Writing a streamed answer: to a file that appears whole or not at all (written beside it,
then renamed), or to standard output."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import httpx

from estante_cli.errors import CliError
from estante_cli.progress import bytes_progress


def save(response: httpx.Response, destination: Path | None, description: str) -> int:
    """Stream the body to ``destination`` (standard output when None); the bytes written. An
    interrupted download leaves no partial file behind."""
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    written = 0
    with bytes_progress(description, total) as advance:
        if destination is None:
            stream = sys.stdout.buffer
            for chunk in response.iter_bytes():
                stream.write(chunk)
                written += len(chunk)
                advance(len(chunk))
            stream.flush()
            return written
        directory = destination.parent
        if not directory.is_dir():
            raise CliError(f"{destination}: there is no directory {directory}")
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{destination.name}.", suffix=".part", dir=directory
        )
        try:
            with os.fdopen(descriptor, "wb") as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
                    written += len(chunk)
                    advance(len(chunk))
            os.chmod(temporary, 0o666 & ~_umask())
            os.replace(temporary, destination)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return written


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
