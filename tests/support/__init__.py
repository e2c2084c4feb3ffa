"""What the tests share: the service harness, HTTP clients and log-in, tokens, PostgreSQL.

Test modules import from here and never from one another; fixtures stay in ``conftest.py``.
``tests/unit/test_layers.py`` checks both.
"""
