"""``python -m web_service`` starts the service, like ``python web_service/web_service.py``."""

from common.server import serve

serve("web_service.config:WebSettings", "web_service.app:prepare", "web_service.app:create_app")
