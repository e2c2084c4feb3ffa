"""Alembic environment of the Web Service (its sessions table)."""

from migrations.env_common import run
from web_service.models import WebBase

run(WebBase.metadata)
