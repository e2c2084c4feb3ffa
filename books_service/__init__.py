"""Estante Books Service: the catalog."""

__version__ = "0.1.0"
