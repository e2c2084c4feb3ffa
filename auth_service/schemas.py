"""Request and response bodies of the Auth Service (they also generate its OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel, model_validator
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from auth_service import passwords, usernames
from auth_service.models import Role
from common.text import EncodableStr, encodable
from common.validation import NOT_BLANK, stated


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
# The document says what it can of the policy (not the list of common passwords).
NewPassword = Annotated[
    str,
    Field(max_length=passwords.MAX_LENGTH * 4),
    AfterValidator(_valid_password),
    stated(minLength=passwords.MIN_LENGTH, maxLength=passwords.MAX_LENGTH, pattern=NOT_BLANK),
]


class Strict(BaseModel):
    """A request body: no type coercion, and a member it does not know (``usrname``) is a 422
    naming it, never silently dropped."""

    model_config = ConfigDict(extra="forbid", strict=True)


class RegisterRequest(Strict):
    username: NewUsername = Field(examples=["user1"])
    password: NewPassword = Field(examples=["correct horse battery staple"])


class LoginRequest(Strict):
    username: EncodableStr = Field(min_length=1, max_length=256, examples=["user1"])
    password: EncodableStr = Field(
        min_length=1,
        max_length=passwords.MAX_LENGTH * 4,
        examples=["correct horse battery staple"],
    )


class UserOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": 1, "username": "user1", "roles": ["librarian"]}]}
    )

    id: int
    username: str
    roles: list[str]


class TokenResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6IjJLS3FDZVlVIiwidHlwIjoiYXQrand0In"
                    "0.eyJzdWIiOiIxIiwidXNlcm5hbWUiOiJ1c2VyMSIsInJvbGVzIjpbImxpYnJhcmlhbiJdfQ.c2lnbmF0dXJl",
                    "token_type": "Bearer",
                    "expires_in": 900,
                    "refresh_token": "okzHA_s1ADVtLLrR2XQd1o9sxBS72tse4ngVUsbN4Eo",
                    "refresh_expires_in": 1209600,
                    "user": {"id": 1, "username": "user1", "roles": ["librarian"]},
                }
            ]
        }
    )

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
    refresh_token: OpaqueToken = Field(examples=["okzHA_s1ADVtLLrR2XQd1o9sxBS72tse4ngVUsbN4Eo"])


class TokenRequest(Strict):
    """RFC 7662 / RFC 7009 request: the token, and optionally what kind it is."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "token": "eyJhbGciOiJFZERTQSIsImtpZCI6IjJLS3FDZVlVIiwidHlwIjoiYXQrand0"
                    "In0.eyJzdWIiOiIxIiwidXNlcm5hbWUiOiJ1c2VyMSIsInJvbGVzIjpbImxpYnJhcmlhbiJdfQ.c2lnbmF0dXJl",
                    "token_type_hint": "access_token",
                }
            ]
        }
    )

    # Any string: a value that is not a good token (too long, not ASCII, empty) is simply
    # inactive, never a validation error (RFC 7662 §2.2, RFC 7009 §2.2).
    token: str = Field(description="The token to look at; any string.")
    token_type_hint: Literal["access_token", "refresh_token"] | None = None


class ChangePasswordRequest(Strict):
    current_password: EncodableStr = Field(
        min_length=1,
        max_length=passwords.MAX_LENGTH * 4,
        examples=["correct horse battery staple"],
    )
    new_password: NewPassword = Field(examples=["a new and longer passphrase"])


class Introspection(BaseModel):
    """RFC 7662 answer. Only ``active`` is present when the token is not good."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "active": True,
                    "token_type": "Bearer",
                    "sub": "1",
                    "username": "user1",
                    "roles": ["librarian"],
                    "exp": 1767225600,
                    "iat": 1767224700,
                    "nbf": 1767224700,
                    "iss": "estante-auth",
                    "aud": "estante",
                    "jti": "00117452-25b5-4c86-b59b-cf4102ed1614",
                    "sid": "8d1ecf653ac34b6aabac8e7c67dd86db",
                },
                {"active": False},
            ]
        },
    )
    active: bool


USER_DETAIL_EXAMPLE: JsonDict = {
    "id": 1,
    "username": "user1",
    "roles": ["librarian"],
    "created_at": "2025-01-31T12:00:00Z",
    "last_login_at": "2025-02-01T09:30:00Z",
    "disabled": False,
}


class UserDetail(UserOut):
    model_config = ConfigDict(json_schema_extra={"examples": [USER_DETAIL_EXAMPLE]})

    created_at: str
    last_login_at: str | None
    disabled: bool


class UserList(RootModel[list[UserDetail]]):
    """One page of users, oldest first (a JSON array, as every list)."""

    model_config = ConfigDict(json_schema_extra={"examples": [[USER_DETAIL_EXAMPLE]]})


class UserPath(BaseModel):
    user_id: int


def _one_role(roles: list[str]) -> list[str]:
    if len(roles) != 1:
        raise PydanticCustomError("one_role", "must name exactly one role (a user has one)")
    return roles


class UserPatch(Strict):
    """What an administrator changes about a user, in the shape ``GET`` shows it: the role as
    ``roles`` (a list of one), and whether the account is disabled. At least one of them.
    ``role`` (one role, not a list) still works for older clients."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"roles": ["reader"]}, {"disabled": True}],
            "minProperties": 1,
        }
    )

    roles: (
        Annotated[list[Role], AfterValidator(_one_role), stated(minItems=1, maxItems=1)] | None
    ) = Field(None, description="The user's role, as GET shows it: a list of one")
    role: Role | None = Field(
        None,
        description="The same as roles: [role] (for older clients)",
        json_schema_extra={"deprecated": True},
    )
    disabled: bool | None = Field(
        None, description="true ends the user's sessions at once; false lets them log in again"
    )

    @model_validator(mode="after")
    def _changes_something(self) -> UserPatch:
        if self.roles is not None and self.role is not None and self.roles != [self.role]:
            raise PydanticCustomError("roles", "role and roles name different roles")
        if self.new_role is None and self.disabled is None:
            raise PydanticCustomError(
                "nothing_to_change", "names nothing to change: give roles or disabled"
            )
        return self

    @property
    def new_role(self) -> str | None:
        return self.roles[0] if self.roles else self.role


class AccountSettings(Strict):
    default_role: Role = Field(examples=["librarian"])


class Jwk(BaseModel):
    model_config = ConfigDict(extra="allow")
    kty: str
    kid: str
    alg: str | None = None
    use: str | None = None


class Jwks(BaseModel):
    """RFC 7517 JSON Web Key Set: the public keys that verify access tokens."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "keys": [
                        {
                            "kty": "OKP",
                            "crv": "Ed25519",
                            "x": "tEdEKSrwp0ySEn5dLzJ7-0DHPgbqG2hV5iA4CDBPopo",
                            "kid": "2KKqCeYUO5aFAwSbyy7LLgA7x_zdk7QWOF4oo1b_Kj4",
                            "use": "sig",
                            "alg": "EdDSA",
                        }
                    ]
                }
            ]
        }
    )

    keys: list[Jwk]
