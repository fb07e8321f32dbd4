"""`python -m adapters.seed`: a small catalogue and the operator account (idempotent)."""

from __future__ import annotations

import asyncio
import secrets

from adapters.catalogue import Catalogue
from adapters.db import create_engine
from adapters.passwords import hash_password
from adapters.settings import Settings, get_settings
from adapters.user_store import UserStore

CATALOGUE = [
    ("TSHIRT-BLUE-M", "Blue T-shirt (M)", "Organic cotton tee, medium.", 2500, 100),
    ("TSHIRT-BLUE-L", "Blue T-shirt (L)", "Organic cotton tee, large.", 2500, 100),
    ("MUG-LOGO", "Logo mug", "Stoneware mug, 350 ml.", 1200, 200),
    ("HOODIE-GREY-M", "Grey hoodie (M)", "Heavyweight fleece hoodie.", 5900, 50),
    ("SNEAKER-WHITE-42", "White sneakers (42)", "Leather sneakers.", 8900, 30),
    ("STICKER-PACK", "Sticker pack", "Ten vinyl stickers.", 400, 1000),
    ("ESPRESSO-MACHINE", "Espresso machine", "Dual boiler; orders go to review.", 129900, 5),
]
"""(sku, name, description, price in EUR cents, initial stock)."""


async def seed(settings: Settings) -> str:
    """Seed products (stock only on first insert) and the operator; returns its password."""
    engine = create_engine(settings)
    try:
        catalogue = Catalogue(engine)
        for sku, name, description, price, stock in CATALOGUE:
            if await catalogue.get(sku) is None:
                await catalogue.create(
                    sku=sku,
                    name=name,
                    description=description,
                    price=price,
                    currency="EUR",
                    stock=stock,
                )
        password = (
            settings.operator_password.get_secret_value()
            if settings.operator_password
            else secrets.token_urlsafe(12)
        )
        await UserStore(engine).set_operator(
            settings.operator_email, "Operator", hash_password(password)
        )
        return password
    finally:
        await engine.dispose()


def main() -> None:
    settings = get_settings()
    password = asyncio.run(seed(settings))
    print(f"seeded {len(CATALOGUE)} products and operator {settings.operator_email}")
    if settings.operator_password is None:
        print(f"operator password (generated): {password}")


if __name__ == "__main__":
    main()
