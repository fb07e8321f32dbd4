"""Codec server for the Temporal UI and CLI: `POST /codec/encode` and `/codec/decode`.

The Temporal codec-server protocol: `{"payloads": [{"metadata": {k: base64}, "data": base64}]}`
in protobuf JSON, both ways. Only operators may decode: a Bearer JWT with the operator role,
or the same token in the `codec_session` cookie that `/codec/login` sets. The Temporal UI
cannot send a token of ours, but with "include cross-origin credentials" on it sends that
cookie (docs/runbook.md, "Read the decoded data"). `CODEC_TRUST_UI_ORIGIN` lets `make run`'s
UI in from loopback without either.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

import jwt
import structlog
from fastapi import APIRouter, Cookie, Depends, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from google.protobuf import json_format
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payloads

from adapters.codec import CodecKeyError, MalformedPayload, is_encrypted
from api.deps import ServicesDep
from api.errors import Problem
from api.observability import ui_origins
from api.routes.auth import token
from api.security import decode_token

router = APIRouter(
    prefix="/codec",
    tags=["codec"],
    responses={
        401: {"description": "no or an invalid token"},
        403: {"description": "not an operator"},
        400: {"description": "an encrypted payload too short, or its key id not UTF-8"},
        422: {"description": "not payloads, or sealed with an unknown key"},
    },
)
log = structlog.get_logger()

_bearer = HTTPBearer(auto_error=False, description="An operator's JWT")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_COOKIE = "codec_session"
_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Codec sign-in</title></head>
<body><h1>Sign in to decode payloads in the Temporal UI</h1>
<form method="post" action="/codec/login">
<p><label>Operator email <input name="username" type="email" autocomplete="username" required>
</label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password"
required></label></p>
<p><button type="submit">Sign in</button></p>
</form></body></html>
"""


class CodecPayload(BaseModel):
    """One Temporal payload in protobuf JSON: base64 metadata values and data."""

    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""


class CodecPayloads(BaseModel):
    """The codec-server protocol's body, request and answer alike."""

    payloads: list[CodecPayload]


def _caller(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[str | None, Cookie(alias=_COOKIE)] = None,
) -> str:
    """An operator's id, or `local-ui` for the trusted local UI; 401/403 otherwise."""
    settings = services.settings
    bearer = credentials.credentials if credentials else session
    if bearer is None:
        origin = request.headers.get("origin", "")
        client = request.client.host if request.client else ""
        if (
            settings.codec_trust_ui_origin
            and client in _LOOPBACK
            and origin in ui_origins(settings.temporal_ui_url)
        ):
            return "local-ui"
        raise Problem(401, "unauthorized", "an operator's bearer token is required")
    try:
        principal = decode_token(settings, bearer)
    except jwt.InvalidTokenError as error:
        raise Problem(401, "unauthorized", f"invalid token: {error}") from None
    if not principal.is_operator:
        raise Problem(403, "forbidden", "only operators may use the codec")
    return principal.user_id


Caller = Annotated[str, Depends(_caller)]
Namespace = Annotated[str | None, Header(alias="X-Namespace")]


@router.post("/encode")
async def encode(
    body: CodecPayloads, services: ServicesDep, caller: Caller, namespace: Namespace = None
) -> dict[str, Any]:
    """Encrypt payloads with the current key (pass-through when encryption is off)."""
    payloads = _parse(body)
    codec = services.temporal.data_converter.payload_codec
    result = await codec.encode(payloads.payloads) if codec else list(payloads.payloads)
    log.info("codec_encode", caller=caller, namespace=namespace, payloads=len(result))
    return json_format.MessageToDict(Payloads(payloads=result))


@router.post("/decode")
async def decode(
    body: CodecPayloads, services: ServicesDep, caller: Caller, namespace: Namespace = None
) -> dict[str, Any]:
    """Decrypt payloads with whichever configured key encrypted them. Unencrypted ones are
    shown as they are: this is for reading, unlike the workers, which refuse them."""
    payloads = _parse(body)
    codec = services.temporal.data_converter.payload_codec
    result = list(payloads.payloads)
    try:
        if codec:
            encrypted = [i for i, payload in enumerate(result) if is_encrypted(payload)]
            opened = await codec.decode([result[i] for i in encrypted])
            for i, payload in zip(encrypted, opened, strict=True):
                result[i] = payload
    except MalformedPayload as error:
        raise Problem(400, "malformed-payload", str(error)) from None
    except CodecKeyError as error:
        raise Problem(422, "undecodable-payload", str(error)) from None
    log.info("codec_decode", caller=caller, namespace=namespace, payloads=len(result))
    return json_format.MessageToDict(Payloads(payloads=result))


def _parse(body: CodecPayloads) -> Payloads:
    try:
        return json_format.ParseDict(body.model_dump(), Payloads())
    except json_format.ParseError as error:
        raise Problem(422, "validation-error", f"not a payload: {error}") from None


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page() -> HTMLResponse:
    """The operator's sign-in form for the Temporal UI's codec calls."""
    return HTMLResponse(_LOGIN_PAGE)


@router.post("/login", include_in_schema=False)
async def login(request: Request, services: ServicesDep) -> RedirectResponse:
    """Check an operator's email and password (as `POST /v1/auth/token` does, with its rate
    limits), keep the token in an HttpOnly cookie for `/codec` and go back to the UI.

    SameSite=Strict: the browser sends the cookie only from the same site, so the UI and the
    API must share a registrable domain (`temporal.example.com`, `shop.example.com`)."""
    settings = services.settings
    issued = await token(request, services)
    principal = decode_token(settings, issued.access_token)
    if not principal.is_operator:
        raise Problem(403, "forbidden", "only operators may use the codec")
    log.info("codec_login", caller=principal.user_id)
    answer = RedirectResponse(settings.temporal_ui_url, status_code=303)
    answer.set_cookie(
        _COOKIE,
        issued.access_token,
        max_age=issued.expires_in,
        path="/codec",
        secure=urlsplit(settings.public_url).scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return answer
