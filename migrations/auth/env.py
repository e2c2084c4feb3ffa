"""Alembic environment of the Auth Service."""

from auth_service.models import AuthBase
from migrations.env_common import run

run(AuthBase.metadata)
