"""WSGI entry point for servers given a module path (``books_service.wsgi:app``)."""

from books_service.app import create_app

app = create_app()
