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
    user: UserOut
