"""``python -m web_service`` starts the service, like ``python web_service/web_service.py``."""

from common.server import serve
from web_service.app import prepare
from web_service.config import WebSettings

serve(WebSettings, prepare, "web_service.app:create_app")
