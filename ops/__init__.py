"""Operator commands: ``make run``, ``make backup`` / ``make restore`` and ``make openapi``.

They sit above both services and may import them; ``common/`` is the ground floor below the
services and imports none of them (``tests/unit/test_layers.py`` checks it).
"""
