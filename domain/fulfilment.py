"""Units of an order's lines: how many are shipped, delivered, returned, and whether a
command's lines ask for units that exist (docs/orders.md, "Shipments, edits and returns").

Pure functions over the order's lines, shipments and returns; the aggregate
(`domain/orders.py`) decides with them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from domain.errors import InvalidEdit, InvalidOrder, TooManyUnits, UnknownLine
from domain.values import MAX_QUANTITY, OrderLine, Return, ReturnStatus, Shipment, Units


def counted(units: Iterable[Units]) -> Counter[str]:
    """Units per sku over several shipments or returns."""
    total: Counter[str] = Counter()
    for some in units:
        for sku, quantity in some:
            total[sku] += quantity
    return total


def shipped(shipments: Iterable[Shipment]) -> Counter[str]:
    return counted(s.lines for s in shipments)


def delivered(shipments: Iterable[Shipment]) -> Counter[str]:
    return counted(s.lines for s in shipments if s.delivered_at is not None)


def returned(returns: Iterable[Return]) -> Counter[str]:
    """Units received back."""
    return counted(r.lines for r in returns if r.status == ReturnStatus.RECEIVED)


def claimed(returns: Iterable[Return]) -> Counter[str]:
    """Units received back or asked back by a return still open."""
    return counted(
        r.lines for r in returns if r.status in {ReturnStatus.RECEIVED, ReturnStatus.REQUESTED}
    )


def left(lines: list[OrderLine], taken: Mapping[str, int]) -> Units:
    """Each line's units not in `taken`, in line order (lines with none left are omitted)."""
    return tuple(
        (line.sku, line.quantity - taken.get(line.sku, 0))
        for line in lines
        if line.quantity > taken.get(line.sku, 0)
    )


def requested(lines: list[OrderLine], asked: Units, available: Units, *, verb: str) -> Units:
    """A command's units, checked: at least one line, each sku once and on the order, 1 to
    100 units, no more than `available`. Answers them in the order's line order."""
    if not asked:
        raise InvalidOrder(f"name at least one line to {verb}")
    skus = [sku for sku, _ in asked]
    if len(set(skus)) != len(skus):
        raise InvalidOrder("each sku may appear on one line only")
    on_order = {line.sku for line in lines}
    if unknown := [sku for sku in skus if sku not in on_order]:
        raise UnknownLine(skus=unknown)
    for _, quantity in asked:
        if not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidOrder(f"quantity must be between 1 and {MAX_QUANTITY}, got {quantity}")
    free = dict(available)
    if short := [sku for sku, quantity in asked if quantity > free.get(sku, 0)]:
        raise TooManyUnits(f"more units than are left to {verb}: {', '.join(short)}", short)
    wanted = dict(asked)
    return tuple((line.sku, wanted[line.sku]) for line in lines if line.sku in wanted)


def edited(
    lines: list[OrderLine], asked: Units, shipped_units: Mapping[str, int]
) -> tuple[list[OrderLine], Units]:
    """The lines after an edit (new, lower quantities; 0 removes a line) and the units it
    removes. Refused: a raise, a sku not on the order, units already shipped, no change,
    or nothing left."""
    if not asked:
        raise InvalidEdit("name at least one line to change")
    wanted = dict(asked)
    if len(wanted) != len(asked):
        raise InvalidOrder("each sku may appear on one line only")
    on_order = {line.sku: line for line in lines}
    if unknown := [sku for sku in wanted if sku not in on_order]:
        raise UnknownLine(skus=unknown)
    kept: list[OrderLine] = []
    removed: list[tuple[str, int]] = []
    for line in lines:
        quantity = wanted.get(line.sku, line.quantity)
        if quantity < 0 or quantity > line.quantity:
            raise InvalidEdit(
                f"{line.sku}: an edit may only lower a quantity ({line.quantity}), not make it "
                f"{quantity}; order more in a new order"
            )
        if quantity < shipped_units.get(line.sku, 0):
            raise InvalidEdit(f"{line.sku}: {shipped_units[line.sku]} units have shipped already")
        if quantity < line.quantity:
            removed.append((line.sku, line.quantity - quantity))
        if quantity:
            kept.append(OrderLine(line.sku, line.name, quantity, line.unit_price))
    if not removed:
        raise InvalidEdit("the edit changes nothing")
    if not kept:
        raise InvalidEdit("an edit may not leave nothing: cancel the order instead")
    return kept, tuple(removed)


def amount(lines: list[OrderLine], units: Units) -> int:
    """What some units cost (minor units), at their lines' prices."""
    prices = {line.sku: line.unit_price.amount for line in lines}
    return sum(prices[sku] * quantity for sku, quantity in units)


def as_data(units: Units) -> list[dict[str, str | int]]:
    """Units as timeline data."""
    return [{"sku": sku, "quantity": quantity} for sku, quantity in units]
