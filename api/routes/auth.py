"""Registration and tokens. The token endpoint takes JSON `{email, password}` and the OAuth2
password form (`username`, `password`), so the Authorize button of /docs works too."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, ValidationError
from starlette.exceptions import HTTPException

from adapters.passwords import hash_password_async, verify_password_async
from api.deps import ServicesDep
from api.errors import Problem, problems
from api.ratelimit import Counter, client_ip
from api.schemas import Line, Strict
from api.security import issue_token

router = APIRouter(prefix="/v1/auth", tags=["auth"])

Password = Annotated[Line, StringConstraints(min_length=12, max_length=256)]
ShortLine = Annotated[Line, StringConstraints(max_length=256)]
_RATE_LIMITED = {429: "rate-limited: too many attempts from this address or for this email"}
_LOGIN_LIMITED = {429: "rate-limited: too many failed logins from this address or for this email"}


class RegisterIn(Strict):
    """A new customer account."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "ada@example.com",
                    "password": "correct horse battery staple",
                    "name": "Ada Lovelace",
                    "phone": "+44 20 7946 0000",
                }
            ]
        }
    )

    email: EmailStr
    password: Password = Field(description="at least 12 characters")
    name: Annotated[Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{5,31}$")] | None = None


class UserOut(BaseModel):
    """An account as its owner sees it; never the password hash."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "usr_0f9c2a7b4e5d6c1a2b3c",
                    "email": "ada@example.com",
                    "name": "Ada Lovelace",
                    "phone": None,
                    "role": "customer",
                }
            ]
        }
    )

    id: str
    email: str
    name: str
    phone: str | None
    role: Literal["customer", "operator"]


class TokenIn(Strict):
    """A login as JSON."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "ada@example.com", "password": "correct horse battery staple"}]
        }
    )

    email: EmailStr
    password: ShortLine


class TokenForm(Strict):
    """A login as the OAuth2 password grant (RFC 6749 §4.3): the email is the `username`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "grant_type": "password",
                    "username": "ada@example.com",
                    "password": "correct horse battery staple",
                }
            ]
        }
    )

    grant_type: Literal["password"] | None = None
    username: EmailStr
    password: ShortLine
    scope: ShortLine = ""
    client_id: ShortLine | None = None
    client_secret: ShortLine | None = None


class TokenOut(BaseModel):
    """A bearer token: send it as `Authorization: Bearer <access_token>`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiJ9...",
                    "token_type": "bearer",
                    "expires_in": 3600,
                }
            ]
        }
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type
    expires_in: int


@router.post(
    "/register",
    status_code=201,
    response_model=UserOut,
    responses=problems({409: "email-taken", **_RATE_LIMITED}),
)
async def register(body: RegisterIn, request: Request, services: ServicesDep) -> UserOut:
    """Create a customer account; emails are unique whatever their case."""
    limits = services.limits
    address = client_ip(request, services.settings.forwarded_allow_ips)
    await limits.hit(limits.register, "register-ip", address)
    await limits.hit(limits.register, "register-email", str(body.email).lower())
    user = await services.users.create(
        email=str(body.email),
        name=body.name,
        phone=body.phone,
        password_hash=await hash_password_async(body.password),
    )
    if user is None:
        raise Problem(409, "email-taken", "an account with this email exists")
    return UserOut.model_validate(user)


_FORM = "application/x-www-form-urlencoded"
_TOKEN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/TokenIn"}},
            _FORM: {"schema": {"$ref": "#/components/schemas/TokenForm"}},
        },
    }
}


async def _credentials(request: Request) -> tuple[str, str]:
    """The email and password from a JSON body or an OAuth2 password form."""
    form = request.headers.get("content-type", "").split(";")[0].strip().lower() == _FORM
    try:
        if form:
            try:
                fields = await request.form(max_files=0, max_fields=10)
            except HTTPException as error:  # too many fields: Starlette answers 400
                if error.status_code != 400:
                    raise
                raise Problem(422, "validation-error", str(error.detail), errors=[]) from None
            raw = {k: v for k, v in fields.items() if isinstance(v, str)}
            login = TokenForm.model_validate(raw)
            return str(login.username), login.password
        body = TokenIn.model_validate_json(await request.body())
        return str(body.email), body.password
    except ValidationError as error:
        loc = ("body",)
        raise RequestValidationError(
            [{**e, "loc": loc + tuple(e["loc"])} for e in error.errors(include_url=False)]
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError):  # pragma: no cover - pydantic reports it
        raise Problem(422, "malformed-json", "the request body is not valid JSON") from None


@router.post(
    "/token",
    response_model=TokenOut,
    responses=problems({401: "invalid-credentials", 422: "validation-error", **_LOGIN_LIMITED}),
    openapi_extra=_TOKEN_BODY,
)
async def token(request: Request, services: ServicesDep) -> TokenOut:
    """Exchange an email and password for a bearer token (JSON or the OAuth2 password form).

    Only failed logins count against the limits, per account and per client address."""
    email, password = await _credentials(request)
    limits, settings = services.limits, services.settings
    reservation = await limits.reserve(
        Counter(limits.login_account, ("login-email", email.lower())),
        Counter(
            limits.login_address, ("login-ip", client_ip(request, settings.forwarded_allow_ips))
        ),
    )
    failed = False
    try:
        user = await services.users.by_email(email)
        hashed = user["password_hash"] if user else None
        failed = not await verify_password_async(password, hashed) or not user
    finally:
        if not failed:  # a success, or no answer at all: not a failed login
            await limits.release(reservation)
    if failed or not user:
        raise Problem(401, "invalid-credentials", "email or password is wrong")
    return TokenOut(
        access_token=issue_token(settings, user["id"], user["role"]),
        expires_in=settings.jwt_ttl_seconds,
    )
