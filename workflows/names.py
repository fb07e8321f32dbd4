"""The names Temporal knows the engine by: workflow ids, task queues and search attributes,
declared once.

Workers poll these queues, the API and the order start work on them, and `make run`, the
tests and `deploy/` register `SEARCH_ATTRIBUTES` on the namespace (docs/architecture.md).
"""

from temporalio.common import SearchAttributeKey


def order_workflow_id(order_id: str) -> str:
    """One per order id, so a replayed place joins it, never a second."""
    return f"order-{order_id}"


def notification_prefix(order_id: str) -> str:
    """What every notification id of the order begins with (workflows/notification.py)."""
    return f"notification-{order_id}-"


def notifications_query(order_id: str) -> str:
    """The visibility query listing the order's notifications, those its record step started
    outside its history included (activities/notification_starts.py)."""
    quoted = notification_prefix(order_id).replace("\\", "\\\\").replace('"', '\\"')
    return f'WorkflowId STARTS_WITH "{quoted}"'


def payment_workflow_id(order_id: str) -> str:
    """The order's payment child."""
    return f"payment-{order_id}"


ORDERS_QUEUE = "orders"
PAYMENTS_QUEUE = "payments"
NOTIFICATIONS_QUEUE = "notifications"

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
ORDER_TOTAL = SearchAttributeKey.for_int("OrderTotal")
PAYMENT_STATUS = SearchAttributeKey.for_keyword("PaymentStatus")
NEEDS_ATTENTION = SearchAttributeKey.for_keyword("NeedsAttention")
"""Names a step that keeps failing (workflows/attention.py, docs/runbook.md)."""

SEARCH_ATTRIBUTES: dict[str, str] = {
    key.name: "Int" if key is ORDER_TOTAL else "Keyword"
    for key in (ORDER_STATUS, CUSTOMER_ID, ORDER_TOTAL, PAYMENT_STATUS, NEEDS_ATTENTION)
}
"""Every custom search attribute and its type, as `temporal operator search-attribute create`
takes them."""
