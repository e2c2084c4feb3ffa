"""The ``estante`` command: the catalog from a terminal or a script, over the services' HTTP
APIs only (it imports nothing of the services, so it runs anywhere Python and the network do)."""

__version__ = "0.1.0"
