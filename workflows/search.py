"""Search attribute keys shared by the order and payment workflows (docs/orders.md, "Operators")."""

from temporalio.common import SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
ORDER_TOTAL = SearchAttributeKey.for_int("OrderTotal")
PAYMENT_STATUS = SearchAttributeKey.for_keyword("PaymentStatus")
