"""docs/configuration.md must name every environment variable the code reads."""

from __future__ import annotations

import re

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from auth_service.config import AuthSettings
from books_service.config import BooksSettings
from common.config import PROJECT_ROOT


def env_names(settings_class: type[BaseSettings]) -> set[str]:
    names = set()
    for field in settings_class.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias)
    return names


@pytest.mark.parametrize("settings_class", [AuthSettings, BooksSettings])
def test_every_setting_is_in_the_configuration_table(settings_class: type[BaseSettings]) -> None:
    table = (PROJECT_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", table, flags=re.MULTILINE))
    names = env_names(settings_class)
    assert names, "the settings class declares no environment variables"
    assert names <= documented, f"missing from docs/configuration.md: {sorted(names - documented)}"
