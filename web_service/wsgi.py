"""WSGI entry point for servers given a module path (``web_service.wsgi:app``)."""

from web_service.app import create_app

app = create_app()
