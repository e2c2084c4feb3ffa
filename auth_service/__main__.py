"""``python -m auth_service`` starts the service, like ``python auth_service/auth_service.py``."""

from auth_service.app import prepare
from auth_service.config import AuthSettings
from common.server import serve

serve(AuthSettings, prepare, "auth_service.app:create_app")
