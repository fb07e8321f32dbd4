"""The ids and queries Temporal knows the engine by (workflows/names.py)."""

from __future__ import annotations

from workflows.names import notifications_query
from workflows.notification import event_notification_id, notification_id


def test_the_notifications_query_matches_both_forms_of_notification_id() -> None:
    query = notifications_query("ord_0f9c2a7b4e5d6c1a2b3c")

    assert query == 'WorkflowId STARTS_WITH "notification-ord_0f9c2a7b4e5d6c1a2b3c-"'
    prefix = query.split('"')[1]
    assert event_notification_id("ord_0f9c2a7b4e5d6c1a2b3c", "order_shipped", 2).startswith(prefix)
    assert notification_id("ord_0f9c2a7b4e5d6c1a2b3c", "order_shipped", "email").startswith(prefix)


def test_a_quote_or_backslash_in_an_id_stays_inside_the_query_string() -> None:
    assert notifications_query('a"b\\c') == 'WorkflowId STARTS_WITH "notification-a\\"b\\\\c-"'
