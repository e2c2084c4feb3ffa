"""JSON Merge Patch (RFC 7396): apply a patch document to a JSON value.

A member of the patch replaces the target's member, ``null`` removes it, a nested object is
merged recursively, and anything that is not an object (arrays included) replaces the whole
target. Small enough to write; the RFC's own examples are its unit tests.
"""

from __future__ import annotations

from typing import Any

MEDIA_TYPE = "application/merge-patch+json"


def apply(target: Any, patch: Any) -> Any:
    """The result of applying ``patch`` to ``target`` (neither is modified)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = apply(result.get(name), value)
    return result
