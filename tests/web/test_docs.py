"""docs/web.md's configuration table names every setting of the web service's own."""

from __future__ import annotations

import re

from pydantic import AliasChoices

from common.config import PROJECT_ROOT, ServiceSettings
from web_service.config import WebSettings


def names_of(settings_class: type[ServiceSettings], fields: set[str]) -> set[str]:
    names = set()
    for name in fields:
        alias = settings_class.model_fields[name].validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias)
    return names


def test_every_web_setting_is_in_the_docs_table() -> None:
    own = set(WebSettings.model_fields) - set(ServiceSettings.model_fields)
    # Shared with the other services, or overridden with a variable of the web service's own.
    own |= {"port", "database_url"}
    documented_text = (PROJECT_ROOT / "docs" / "web.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (.+?) \|", documented_text, flags=re.MULTILINE)
    documented = {name for row in rows for name in re.findall(r"`([A-Z0-9_]+)`", row)}
    names = names_of(WebSettings, own)
    assert "WEB_PORT" in names and "WEB_SECRET_KEY" in names
    assert names <= documented, f"missing from docs/web.md: {sorted(names - documented)}"
