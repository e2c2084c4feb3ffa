"""``--mapping``: which column of an arbitrary CSV file fills which book field.

Given inline or as a file, as a JSON object (``{"Book title": "title", "Writer": "author"}``)
or as ``column=field`` pairs separated by commas or new lines
(``Book title=title,Writer=author``). A column name may hold ``=``: a pair is split at its last
one, since field names never hold it."""

from __future__ import annotations

import json
from pathlib import Path

from estante_cli.errors import CliError

MAX_MAPPING_BYTES = 64 * 1024


def parse_mapping(value: str) -> dict[str, str]:
    """The mapping ``value`` gives, read from the file it names if it names one."""
    text = value
    path = Path(value)
    if path.is_file():
        if path.stat().st_size > MAX_MAPPING_BYTES:
            raise CliError(f"--mapping: {path} is larger than {MAX_MAPPING_BYTES} bytes")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise CliError(f"--mapping: {path} is not UTF-8 text") from None
    elif "=" not in value and not value.lstrip().startswith("{"):
        raise CliError(f"--mapping: no file {value!r}, and not a JSON object or column=field pairs")
    return _parse_text(text.strip())


def _parse_text(text: str) -> dict[str, str]:
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError as error:
            raise CliError(f"--mapping: not valid JSON ({error})") from None
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in document.items()):
            raise CliError('--mapping: a JSON mapping is {"column": "field", ...} of strings')
        pairs = list(document.items())
    else:
        pairs = []
        for item in text.replace("\n", ",").split(","):
            if not item.strip():
                continue
            column, equals, field = item.rpartition("=")
            if not equals:
                raise CliError(f"--mapping: {item.strip()!r} is not column=field")
            pairs.append((column, field))
    mapping: dict[str, str] = {}
    for column, field in pairs:
        column, field = column.strip(), field.strip()
        if not column or not field:
            raise CliError("--mapping: a column or a field name is empty")
        if column in mapping:
            raise CliError(f"--mapping: column {column!r} is mapped twice")
        mapping[column] = field
    if not mapping:
        raise CliError("--mapping: no column=field pairs")
    return mapping
