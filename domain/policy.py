"""The order process's timers and thresholds, with their defaults, declared once.

Settings read them from the environment (adapters/settings.py) and every order carries its
own copy from the moment it starts (`OrderPolicy` in workflows/contracts.py), so a change of
setting never alters a running order. docs/orders.md explains each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Policy:
    review_threshold: int = 100_000
    """Orders of this total (minor units) or more wait for an operator's review."""
    review_timeout: timedelta = timedelta(hours=24)
    payment_action_timeout: timedelta = timedelta(minutes=30)
    """How long the customer has for 3-D Secure."""
    fulfillment_timeout: timedelta = timedelta(days=6)
    """From the authorization: review and shipment together stay inside the card's hold."""
    delivery_timeout: timedelta = timedelta(days=30)
    """A shipment not confirmed delivered by then is taken as delivered."""
    refund_window: timedelta = timedelta(days=30)
    """The return window (setting `RETURN_WINDOW`): how long a delivered order still takes
    returns and refunds before its process ends."""
    return_receive_timeout: timedelta = timedelta(days=30)
    """A return not received by then expires."""


DEFAULTS = Policy()
