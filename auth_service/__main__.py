"""``python -m auth_service`` starts the service, like ``python auth_service/auth_service.py``."""

from common.server import serve

serve(
    "auth_service.config:AuthSettings",
    "auth_service.preparation:prepare",
    "auth_service.app:create_app",
)
