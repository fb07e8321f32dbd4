"""What `make run` prints once everything answers: where things are and a first order to try."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FIRST_SKU = "TSHIRT-BLUE-M"
_CUSTOMER = {"email": "ada@example.com", "password": "correct-horse-battery-staple"}
_ORDER = {
    "lines": [{"sku": FIRST_SKU, "quantity": 1}],
    "shipping_address": {
        "name": "Ada Lovelace",
        "line1": "1 Main St",
        "city": "London",
        "postal_code": "N1 1AA",
        "country": "GB",
    },
    "payment_method": "pm_card_visa",
}
_JSON_FIELD = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"{}\"])'"


@dataclass(frozen=True)
class Where:
    """The resolved addresses of the running stack."""

    api_url: str
    temporal_address: str
    temporal_ui_url: str
    database_url: str
    stripe_api_base: str
    smtp: str
    mail_dir: Path
    logs_dir: Path
    operator_email: str
    operator_password: str | None
    """None when it comes from the environment, which we do not echo."""


def services_banner(where: Where) -> str:
    """The parts and their addresses, for `DEVSTACK_SKIP_APP=1` and the top of the full one."""
    password = where.operator_password or "(your OPERATOR_PASSWORD)"
    return "\n".join(
        [
            "",
            "=" * 78,
            f"  Temporal      {where.temporal_address}   UI {where.temporal_ui_url}",
            f"  PostgreSQL    {where.database_url}",
            f"  Stripe        {where.stripe_api_base}",
            f"  SMTP          {where.smtp}   mail stored in {where.mail_dir}/ (one .eml each)",
            f"  Logs          {where.logs_dir}/",
            f"  Operator      {where.operator_email} / {password}",
        ]
    )


def full_banner(where: Where) -> str:
    """Everything, then a copy-paste shell session that places and reads a first order."""
    api = where.api_url
    credentials = json.dumps(_CUSTOMER)
    register = json.dumps({**_CUSTOMER, "name": "Ada Lovelace"})
    lines = [
        services_banner(where),
        f"  API           {api}   docs {api}/docs",
        "=" * 78,
        "  Place a first order (paste into a shell; register says 409 on a re-run, that's fine):",
        "",
        f"API={api}",
        "curl -s -X POST \"$API/v1/auth/register\" -H 'Content-Type: application/json' \\",
        f"  -d '{register}'; echo",
        "TOKEN=$(curl -s -X POST \"$API/v1/auth/token\" -H 'Content-Type: application/json' \\",
        f"  -d '{credentials}' | {_JSON_FIELD.format('access_token')})",
        'curl -s "$API/v1/products"; echo',
        'ORDER=$(curl -s -X POST "$API/v1/orders" -H "Authorization: Bearer $TOKEN" \\',
        "  -H 'Content-Type: application/json' \\",
        f"  -d '{json.dumps(_ORDER)}' \\",
        f"  | {_JSON_FIELD.format('id')})",
        'curl -s "$API/v1/orders/$ORDER" -H "Authorization: Bearer $TOKEN"; echo',
        "",
        "  Ctrl-C stops everything.",
        "=" * 78,
    ]
    return "\n".join(lines)
