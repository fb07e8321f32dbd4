"""What the chaos run does to its orders, through the HTTP API as a shop and its operator
would (docs/orders.md, "Shipments, edits and returns"): the kinds of order, the commands
each is steered through, and what each kind must end as.

Every command is sent with an Idempotency-Key of its own and sent again, with the same key,
until the order shows its effect: an answer lost while a part is down is retried without
doing the command twice.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.shop import ADDRESS, customer, retrying

Order = dict[str, Any]

STICKERS = "STICKER-PACK"
OTHERS = ("MUG-LOGO", "TSHIRT-BLUE-M", "TSHIRT-BLUE-L", "HOODIE-GREY-M")
"""The second line of the orders that have two, in turn; with `STICKERS`, every sku used."""

KINDS = (
    "delivered",  # one unit, one shipment, delivered
    "cancelled",  # one unit, cancelled by its customer once confirmed
    "split",  # two shipments, each delivered on its own
    "edited_received",  # edited, two shipments, a return of one unit received and restocked
    "edited_rejected",  # a line removed by an edit, one shipment, a return rejected
    "returned_whole",  # every unit returned and received: refunded in full
)
"""Order n is of kind `KINDS[n % len(KINDS)]`."""


@dataclass
class Script:
    """What one order is meant to become."""

    order_id: str
    kind: str
    placed: dict[str, int]
    """Units per sku as the order was placed (and reserved)."""
    restock: bool = True
    """Whether its received return puts the units back on hand."""
    steps: list[str] = field(default_factory=list)
    """The commands whose effect the order never showed (it went astray there)."""

    @property
    def intent(self) -> str:
        """The status it must end in."""
        return {"cancelled": "cancelled", "returned_whole": "refunded"}.get(self.kind, "delivered")

    def astray(self, order: Order | None) -> str | None:
        """Why the order is not what its kind must end as, or None."""
        if order is None:
            return "not readable"
        if order["status"] != self.intent:
            return f"is {order['status']}, meant {self.intent}"
        if self.kind == "cancelled":
            return None
        shipments = {"split": 2, "edited_received": 2}.get(self.kind, 1)
        if len(order["shipments"]) != shipments:
            return f"has {len(order['shipments'])} shipments, meant {shipments}"
        if any(s["delivered_at"] is None for s in order["shipments"]):
            return "has a shipment not delivered"
        returned = {"edited_received", "returned_whole"}
        wanted = ["rejected"] if self.kind == "edited_rejected" else []
        wanted = ["received"] if self.kind in returned else wanted
        statuses = [r["status"] for r in order["returns"]]
        if statuses != wanted:
            return f"has returns {statuses}, meant {wanted}"
        if self.steps:
            return f"never showed {', '.join(self.steps)}"
        return None


@dataclass
class Shop:
    """The API, its operator, and how long orders may take to be confirmed."""

    api: httpx.AsyncClient
    operator: dict[str, str]
    deadline: float

    async def order(self, order_id: str) -> Order:
        answer = await retrying(
            lambda: self.api.get(f"/v1/orders/{order_id}", headers=self.operator)
        )
        order: Order = answer.json()
        return order

    async def timeline(self, order_id: str) -> list[str]:
        """The types of the order's timeline entries, oldest first."""
        answer = await retrying(
            lambda: self.api.get(f"/v1/orders/{order_id}/events", headers=self.operator)
        )
        body = answer.json()
        entries = body["items"] if isinstance(body, dict) else body
        return [entry["type"] for entry in entries]

    async def drive(self, n: int) -> Script:
        """Place order n, wait for its confirmation, then take it where its kind goes."""
        kind = KINDS[n % len(KINDS)]
        other = OTHERS[(n // len(KINDS)) % len(OTHERS)]
        placed = {STICKERS: 1} if kind in {"delivered", "cancelled"} else {STICKERS: 3, other: 1}
        headers = await customer(self.api)
        key = str(uuid.uuid4())  # the shop retries with the same key: one order however often
        body = {
            "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in placed.items()],
            "shipping_address": ADDRESS,
            "payment_method": "pm_card_visa",
        }
        answer = await retrying(
            lambda: self.api.post(
                "/v1/orders", json=body, headers={**headers, "Idempotency-Key": key}
            )
        )
        script = Script(str(answer.json()["id"]), kind, placed, restock=n % 12 < 6)
        while (await self.order(script.order_id))["status"] != "confirmed":
            if time.monotonic() > self.deadline:
                return script
            await asyncio.sleep(0.3)
        steps = Steps(self, script, headers, n)
        await getattr(steps, kind)(other)
        return script


@dataclass
class Steps:
    """The commands of one order, as its kind sends them."""

    shop: Shop
    script: Script
    customer: dict[str, str]
    n: int

    async def delivered(self, other: str) -> None:
        await self.ship(None, shipments=1)
        await self.deliver_all()

    async def cancelled(self, other: str) -> None:
        await self.send(
            "cancel", {"reason": "chaos"}, lambda o: o["status"] == "cancelled", self.customer
        )

    async def split(self, other: str) -> None:
        await self.ship([(STICKERS, 2)], shipments=1)
        await self.deliver("S-1")
        await self.ship(None, shipments=2)
        await self.deliver("S-2")

    async def edited_received(self, other: str) -> None:
        await self.edit(STICKERS, 2)
        await self.ship([(other, 1)], shipments=1)
        await self.ship(None, shipments=2)
        await self.deliver("S-2")
        await self.deliver("S-1")
        await self.open_return([(STICKERS, 1)])
        await self.receive("R-1")

    async def edited_rejected(self, other: str) -> None:
        await self.edit(other, 0)
        await self.ship(None, shipments=1)
        await self.deliver_all()
        await self.open_return([(STICKERS, 2)])
        body = {"reason": "the parcel was empty"}
        await self.send("returns/R-1/reject", body, lambda o: _return(o, "R-1") == "rejected")

    async def returned_whole(self, other: str) -> None:
        await self.ship(None, shipments=1)
        await self.deliver_all()
        await self.open_return(list(self.script.placed.items()))
        await self.receive("R-1")

    # --- one command each -----------------------------------------------------------------

    async def edit(self, sku: str, quantity: int) -> None:
        """The customer lowers a line before the first shipment (0 removes it)."""
        body = {"lines": [{"sku": sku, "quantity": quantity}]}

        def done(order: Order) -> bool:
            now = {str(line["sku"]): int(line["quantity"]) for line in order["lines"]}
            return now.get(sku, 0) == quantity

        await self.send("edits", body, done, self.customer)

    async def ship(self, lines: list[tuple[str, int]] | None, *, shipments: int) -> None:
        body: dict[str, Any] = {"carrier": "DHL", "tracking_number": f"CH{self.n}-{shipments}"}
        if lines is not None:
            body["lines"] = [{"sku": sku, "quantity": quantity} for sku, quantity in lines]
        await self.send("shipments", body, lambda o: len(o["shipments"]) >= shipments)

    async def deliver(self, shipment_id: str) -> None:
        """One shipment arrived."""

        def done(order: Order) -> bool:
            found = [s for s in order["shipments"] if s["id"] == shipment_id]
            return bool(found) and found[0]["delivered_at"] is not None

        await self.send(f"shipments/{shipment_id}/delivery", None, done)

    async def deliver_all(self) -> None:
        await self.send("delivery", None, lambda o: o["status"] == "delivered")

    async def open_return(self, lines: list[tuple[str, int]]) -> None:
        """The customer asks to return some delivered units."""
        body = {
            "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
            "reason": "chaos",
        }
        await self.send("returns", body, lambda o: len(o["returns"]) >= 1, self.customer)

    async def receive(self, return_id: str) -> None:
        body = {"restock": self.script.restock}
        await self.send(
            f"returns/{return_id}/receive", body, lambda o: _return(o, return_id) == "received"
        )

    async def send(
        self,
        command: str,
        body: dict[str, Any] | None,
        done: Callable[[Order], bool],
        headers: dict[str, str] | None = None,
    ) -> None:
        """POST the command (by the operator unless `headers` say who) with one key until
        the order shows `done`; a refusal after an answer was lost is fine, since the order
        is read each time. Gives up after about two minutes and notes the step."""
        order_id = self.script.order_id
        path = f"/v1/orders/{order_id}/{command}"
        headers = {**(headers or self.shop.operator), "Idempotency-Key": str(uuid.uuid4())}
        api = self.shop.api
        for _ in range(240):
            try:
                answer = await api.post(path, json=body or {}, headers=headers)
                if answer.status_code < 500 and answer.status_code != 429:
                    if done(await self.shop.order(order_id)):
                        return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
        self.script.steps.append(command)


def _return(order: Order, return_id: str) -> str | None:
    """The status of one of the order's returns."""
    found = [r["status"] for r in order["returns"] if r["id"] == return_id]
    return found[0] if found else None
