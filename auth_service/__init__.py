"""Estante Auth Service: accounts, passwords and signed access tokens."""

__version__ = "0.1.0"
