"""Request and response bodies of the Auth Service (they also generate its OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from auth_service import passwords, usernames
from common.text import EncodableStr, encodable


def _valid_username(value: str) -> str:
    value = usernames.normalise(value)
    problem = usernames.username_problem(value)
    if problem:
        raise PydanticCustomError("username_policy", "username " + problem)
    return value


def _valid_password(value: str) -> str:
    encodable(value)
    problem = passwords.password_problem(value)
    if problem:
        raise PydanticCustomError("password_policy", "password " + problem)
    return value


# Generous upper bounds stop absurd inputs before any hashing work is done.
NewUsername = Annotated[str, Field(max_length=256), AfterValidator(_valid_username)]
NewPassword = Annotated[
    str, Field(max_length=passwords.MAX_LENGTH * 4), AfterValidator(_valid_password)
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class RegisterRequest(Strict):
    username: NewUsername = Field(examples=["user1"])
    password: NewPassword = Field(examples=["correct horse battery staple"])


class LoginRequest(Strict):
    username: EncodableStr = Field(min_length=1, max_length=256, examples=["user1"])
    password: EncodableStr = Field(min_length=1, max_length=passwords.MAX_LENGTH * 4)


class UserOut(BaseModel):
    id: int
    username: str
    roles: list[str]


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(
        description="Opaque; exchange it at POST /token/refresh. Single use: each refresh "
        "returns a new one."
    )
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires.")
    user: UserOut


OpaqueToken = Annotated[EncodableStr, Field(min_length=1, max_length=4096)]


class RefreshRequest(Strict):
    refresh_token: OpaqueToken


class TokenRequest(Strict):
    """RFC 7662 / RFC 7009 request: the token, and optionally what kind it is."""

    token: OpaqueToken
    token_type_hint: Literal["access_token", "refresh_token"] | None = None


class ChangePasswordRequest(Strict):
    current_password: EncodableStr = Field(min_length=1, max_length=passwords.MAX_LENGTH * 4)
    new_password: NewPassword


class Introspection(BaseModel):
    """RFC 7662 answer. Only ``active`` is present when the token is not good."""

    model_config = ConfigDict(extra="allow")
    active: bool


class UserDetail(UserOut):
    created_at: str
    last_login_at: str | None
    disabled: bool


class UserPage(BaseModel):
    items: list[UserDetail]
    page: int
    per_page: int
    total: int


class PageQuery(BaseModel):
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(50, ge=1, le=200)


class UserPath(BaseModel):
    user_id: int


Role = Literal["admin", "librarian", "reader"]


class UserPatch(Strict):
    role: Role | None = None
    disabled: bool | None = None


class AccountSettings(Strict):
    default_role: Role


class Jwk(BaseModel):
    model_config = ConfigDict(extra="allow")
    kty: str
    kid: str
    alg: str | None = None
    use: str | None = None


class Jwks(BaseModel):
    """RFC 7517 JSON Web Key Set: the public keys that verify access tokens."""

    keys: list[Jwk]
