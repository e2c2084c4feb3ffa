"""Administration: users, their roles and state, and the default role of new users."""

from __future__ import annotations

from flask import Response, jsonify, request
from flask_openapi3 import APIBlueprint, Tag

from auth_service import accounts
from auth_service.current_user import require_admin
from auth_service.models import User
from auth_service.schemas import (
    AccountSettings,
    UserDetail,
    UserList,
    UserPatch,
    UserPath,
)
from common.app_base import BEARER
from common.clock import isoformat
from common.db import get_db
from common.json_body import require_json_body
from common.openapi import problems
from common.paging import PageQuery, page_answer, page_response

admin_tag = Tag(name="admin", description="User administration (admin role)")
bearer = BEARER
api = APIBlueprint(
    "admin", __name__, url_prefix="/admin", abp_tags=[admin_tag], abp_security=bearer
)
# Every admin endpoint: no token 401, not an administrator 403.
ADMIN_ONLY = problems(401, 403)


def admins_only() -> None:
    if request.routing_exception is None:
        require_admin()


# The role first (401/403), then the body (415/400/422).
api.before_request(admins_only)
api.before_request(require_json_body)


def user_detail(user: User) -> UserDetail:
    return UserDetail(
        id=user.id,
        username=user.username,
        roles=user.roles,
        created_at=isoformat(user.created_at),
        last_login_at=isoformat(user.last_login_at) if user.last_login_at else None,
        disabled=user.is_disabled,
    )


@api.get(
    "/users",
    responses={
        200: page_answer("One page of users (a JSON array)", UserList.model_json_schema()),
        **ADMIN_ONLY,
    },
)
def list_users(query: PageQuery) -> Response:
    """Every user, oldest first, a page at a time.

    A JSON array, as every list: follow the Link header's URLs for the other pages;
    X-Total-Count says how many users there are."""
    with get_db().read() as session:
        users, page, total = accounts.list_users(session, limit=query.limit, cursor=query.cursor)
        items = [user_detail(user).model_dump() for user in users]
    return page_response(items, total, page, "admin.list_users", query)


@api.get("/users/<int:user_id>", responses={200: UserDetail, **ADMIN_ONLY, **problems(404)})
def get_user(path: UserPath) -> Response:
    """One user."""
    with get_db().read() as session:
        return jsonify(user_detail(accounts.get_user(session, path.user_id)).model_dump())


@api.patch("/users/<int:user_id>", responses={200: UserDetail, **ADMIN_ONLY, **problems(404, 409)})
def update_user(path: UserPath, body: UserPatch) -> Response:
    """Change a user's role, or disable (their sessions end at once) or re-enable them."""
    user = accounts.update_user(get_db(), path.user_id, role=body.new_role, disabled=body.disabled)
    return jsonify(user_detail(user).model_dump())


@api.delete("/users/<int:user_id>", responses={204: None, **ADMIN_ONLY, **problems(404, 409)})
def delete_user(path: UserPath) -> Response:
    """Delete a user and their sessions. Books they added keep their name."""
    accounts.delete_user(get_db(), path.user_id)
    return Response(status=204)


@api.get("/settings", responses={200: AccountSettings, **ADMIN_ONLY})
def get_settings() -> Response:
    """Account settings: the role new users get."""
    with get_db().read() as session:
        return jsonify(AccountSettings(default_role=accounts.default_role(session)).model_dump())


@api.put("/settings", responses={200: AccountSettings, **ADMIN_ONLY})
def put_settings(body: AccountSettings) -> Response:
    """Change the role new users get (``librarian`` by default; ``reader`` for a read-only
    catalog)."""
    accounts.set_default_role(get_db(), body.default_role)
    return jsonify(body.model_dump())
