"""The revocation list: what the Books Service must refuse among unexpired access tokens."""

from __future__ import annotations

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint

from auth_service import revocations
from auth_service.token_routes import tokens_tag
from common.db import get_db
from common.revocation_list import PATH, RevocationList

api = APIBlueprint("revocations", __name__, abp_tags=[tokens_tag])


@api.get(PATH, responses={200: RevocationList})
def revocation_list() -> Response:
    """Revoked access tokens that have not expired yet, for services that verify tokens
    locally (the Books Service fetches it every few seconds)."""
    with get_db().read() as session:
        listed = revocations.published(session)
    response = jsonify(listed.to_document())
    # Never served from a cache: a stale copy would let revoked tokens through for longer.
    response.cache_control.no_cache = True
    return response
