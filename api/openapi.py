"""The OpenAPI document: every `/v1` operation lists the problems it can answer with, as
`application/problem+json`, including those its dependencies raise: 401 where a token is
required, 403 where the `operator` scope is, 413 and 422 where a request has a body or
parameters, 404 where the path names a resource, and 500 everywhere.

Responses that create something carry OpenAPI `links` to what a client does next with it (the
order placed, a return opened, the product created, the webhook endpoint registered, the
account registered); Schemathesis follows them in
its stateful fuzzing."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from api.errors import ProblemOut
from api.routes.auth import TokenForm, TokenIn

_PROBLEM = "#/components/schemas/ProblemOut"
_HEADERS = {
    401: {"WWW-Authenticate": "the accepted scheme: `Bearer`"},
    429: {"Retry-After": "seconds until the limit resets"},
}
_EXTRA_MODELS: tuple[type[BaseModel], ...] = (ProblemOut, TokenIn, TokenForm)
"""The problem schema, and bodies a route documents by hand (`openapi_extra`)."""


_ORDER = {"order_id": "$response.body#/id"}
_SKU = {"sku": "$response.body#/sku"}
_RETURN = {"order_id": "$request.path.order_id", "return_id": "$response.body#/id"}
_ENDPOINT = {"endpoint_id": "$response.body#/id"}
_ENDPOINT_PATH = "/v1/webhook-endpoints/{endpoint_id}"
_LINKS: dict[tuple[str, str], dict[str, tuple[str, str, dict[str, Any]]]] = {
    ("post", "/v1/orders"): {
        "GetOrder": ("get", "/v1/orders/{order_id}", {"parameters": _ORDER}),
        "GetOrderEvents": ("get", "/v1/orders/{order_id}/events", {"parameters": _ORDER}),
        "GetOrderNotifications": (
            "get",
            "/v1/orders/{order_id}/notifications",
            {"parameters": _ORDER},
        ),
        "CancelOrder": ("post", "/v1/orders/{order_id}/cancel", {"parameters": _ORDER}),
        "EditOrder": ("post", "/v1/orders/{order_id}/edits", {"parameters": _ORDER}),
        "ShipOrder": ("post", "/v1/orders/{order_id}/shipments", {"parameters": _ORDER}),
        "GetOrderReturns": ("get", "/v1/orders/{order_id}/returns", {"parameters": _ORDER}),
    },
    ("post", "/v1/orders/{order_id}/returns"): {
        "ReceiveReturn": (
            "post",
            "/v1/orders/{order_id}/returns/{return_id}/receive",
            {"parameters": _RETURN},
        ),
        "RejectReturn": (
            "post",
            "/v1/orders/{order_id}/returns/{return_id}/reject",
            {"parameters": _RETURN},
        ),
    },
    ("post", "/v1/webhook-endpoints"): {
        "GetWebhookEndpoint": ("get", _ENDPOINT_PATH, {"parameters": _ENDPOINT}),
        "UpdateWebhookEndpoint": ("patch", _ENDPOINT_PATH, {"parameters": _ENDPOINT}),
        "RotateWebhookSecret": (
            "post",
            f"{_ENDPOINT_PATH}/rotate-secret",
            {"parameters": _ENDPOINT},
        ),
        "GetWebhookDeliveries": ("get", f"{_ENDPOINT_PATH}/deliveries", {"parameters": _ENDPOINT}),
        "DeleteWebhookEndpoint": ("delete", _ENDPOINT_PATH, {"parameters": _ENDPOINT}),
    },
    ("post", "/v1/products"): {
        "GetProduct": ("get", "/v1/products/{sku}", {"parameters": _SKU}),
        "UpdateProduct": ("patch", "/v1/products/{sku}", {"parameters": _SKU}),
        "AdjustStock": ("post", "/v1/products/{sku}/stock", {"parameters": _SKU}),
    },
    ("post", "/v1/auth/register"): {
        "LogIn": (
            "post",
            "/v1/auth/token",
            {
                "requestBody": {
                    "email": "$request.body#/email",
                    "password": "$request.body#/password",
                }
            },
        ),
    },
}
"""Links from the 2xx answers of an operation (`method`, `path`) to the operations that take
what it created: name -> (method, path, the link's `parameters` or `requestBody`)."""


def _operation_ref(method: str, path: str) -> str:
    """A JSON pointer to an operation of this document (`~1` is `/`, `~0` is `~`)."""
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def _add_links(paths: dict[str, Any]) -> None:
    """Declare `_LINKS`; a link to or from an operation the app does not have is a bug."""
    for (method, path), links in _LINKS.items():
        declared: dict[str, Any] = {}
        for name, (target_method, target_path, values) in links.items():
            for end_method, end_path in ((method, path), (target_method, target_path)):
                if end_method not in paths.get(end_path, {}):
                    raise LookupError(f"link {name}: no operation {end_method} {end_path}")
            declared[name] = {"operationRef": _operation_ref(target_method, target_path), **values}
        for status, response in paths[path][method]["responses"].items():
            if status.startswith("2"):
                response["links"] = declared


def _problems(operation: dict[str, Any]) -> dict[int, str]:
    found: dict[int, str] = {}
    security = operation.get("security", [])
    if security:
        found[401] = "unauthorized: no valid bearer token"
    if any("operator" in scopes for requirement in security for scopes in requirement.values()):
        found[403] = "forbidden: operators only"
    parameters = operation.get("parameters", [])
    if "requestBody" in operation:
        found[413] = "payload-too-large: the body is over the size limit (1 MiB)"
    if "requestBody" in operation or parameters:
        found[422] = "validation-error: the request does not match the schema"
    if any(p.get("in") == "path" for p in parameters):
        found[404] = "not-found"
    found[500] = "internal-error: a bug, logged, never detailed"
    return found


def _as_problem(response: dict[str, Any], status: int) -> None:
    response["content"] = {"application/problem+json": {"schema": {"$ref": _PROBLEM}}}
    for name, description in _HEADERS.get(status, {}).items():
        response.setdefault("headers", {})[name] = {
            "description": description,
            "required": True,
            "schema": {"type": "string"},
        }


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, built once."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in _EXTRA_MODELS:
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(model_schema.pop("$defs", {}))
        components[model.__name__] = model_schema
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue  # health, metrics and the codec answer in their own formats
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in _problems(operation).items():
                responses.setdefault(str(status), {"description": description})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    _as_problem(response, int(status))
    _add_links(schema["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in json.dumps(schema["paths"]):
            components.pop(unused, None)
    app.openapi_schema = schema
    return schema


def install(app: FastAPI) -> None:
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
