"""Registration and tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, EmailStr, Field, StringConstraints

from api.deps import ServicesDep
from api.errors import Problem
from api.schemas import Strict
from api.security import hash_password, issue_token, verify_password

router = APIRouter(prefix="/v1/auth", tags=["auth"])

Password = Annotated[str, StringConstraints(min_length=12, max_length=256)]


class RegisterIn(Strict):
    email: EmailStr = Field(examples=["ada@example.com"])
    password: Password = Field(examples=["correct horse battery"])
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{5,31}$")] | None = None


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    phone: str | None
    role: str


class TokenIn(Strict):
    email: EmailStr
    password: Annotated[str, StringConstraints(max_length=256)]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


@router.post(
    "/register",
    status_code=201,
    response_model=UserOut,
    responses={409: {"description": "email taken"}},
)
async def register(body: RegisterIn, services: ServicesDep) -> UserOut:
    user = await services.users.create(
        email=str(body.email),
        name=body.name,
        phone=body.phone,
        password_hash=hash_password(body.password),
    )
    if user is None:
        raise Problem(409, "email-taken", "an account with this email exists")
    return UserOut.model_validate(user)


@router.post("/token", response_model=TokenOut, responses={401: {"description": "bad login"}})
async def token(body: TokenIn, services: ServicesDep) -> TokenOut:
    user = await services.users.by_email(str(body.email))
    if not verify_password(body.password, user["password_hash"] if user else None) or not user:
        raise Problem(401, "invalid-credentials", "email or password is wrong")
    settings = services.settings
    return TokenOut(
        access_token=issue_token(settings, user["id"], user["role"]),
        expires_in=settings.jwt_ttl_seconds,
    )
