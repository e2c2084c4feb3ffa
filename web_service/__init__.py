"""Estante Web Service: the catalog in a browser, a client of the Auth and Books Services."""

__version__ = "0.1.0"
