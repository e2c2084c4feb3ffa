"""The revocation list: what the Books Service must refuse among unexpired access tokens."""

from __future__ import annotations

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint
from pydantic import BaseModel, ConfigDict, Field

from auth_service import revocations
from auth_service.token_routes import tokens_tag
from common.db import get_db

api = APIBlueprint("revocations", __name__, abp_tags=[tokens_tag])


class RevocationList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "issued_at": 1767225600,
                    "grace": 180,
                    "users": {"7": 1767225000},
                    "sessions": ["8d1ecf653ac34b6aabac8e7c67dd86db"],
                }
            ]
        }
    )

    issued_at: int = Field(description="When this list was made (seconds since the epoch).")
    grace: int = Field(
        description="Seconds a revocation stays listed after the last access token it names "
        "has expired: the largest clock leeway a verifier may grant, and a margin. Until "
        "then it is listed, whatever lifetime the token was issued with."
    )
    users: dict[str, int] = Field(
        description="Per user (`sub`): the first `iat` still accepted; an access token of "
        "that user issued earlier is revoked."
    )
    sessions: list[str] = Field(description="Revoked sessions (`sid`): their tokens are revoked.")


@api.get("/.well-known/revocations.json", responses={200: RevocationList})
def revocation_list() -> Response:
    """Revoked access tokens that have not expired yet, for services that verify tokens
    locally (the Books Service fetches it every few seconds)."""
    with get_db().read() as session:
        document = revocations.published(session)
    response = jsonify(RevocationList(**document).model_dump())
    # Never served from a cache: a stale copy would let revoked tokens through for longer.
    response.cache_control.no_cache = True
    return response
