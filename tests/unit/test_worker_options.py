"""What the settings decide for each queue's worker."""

from __future__ import annotations

from adapters.settings import Settings
from workers.runner import worker_options


def test_only_the_payments_queue_is_rate_limited() -> None:
    settings = Settings(_env_file=None, stripe_rate_per_second=7.5)  # type: ignore[call-arg]

    limits = {
        queue: worker_options(settings, queue)["max_task_queue_activities_per_second"]
        for queue in ("orders", "payments", "notifications")
    }

    assert limits == {"orders": None, "payments": 7.5, "notifications": None}


def test_every_queue_keeps_the_configured_number_of_workflows_cached() -> None:
    settings = Settings(_env_file=None, worker_max_cached_workflows=250)  # type: ignore[call-arg]

    cached = {
        queue: worker_options(settings, queue)["max_cached_workflows"]
        for queue in ("orders", "payments", "notifications")
    }

    assert cached == {"orders": 250, "payments": 250, "notifications": 250}


def test_a_queues_concurrency_bounds_its_local_activities_too() -> None:
    """A notification's sends are local activities: the notifications setting bounds them."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, notifications_max_concurrent_activities=7
    )

    options = worker_options(settings, "notifications")

    assert options["max_concurrent_local_activities"] == 7
    assert options["max_concurrent_activities"] == 7


def test_most_workflow_pollers_wait_for_new_workflows_unless_configured() -> None:
    """A new order's first task is on the queue itself, not on a worker's sticky queue: the
    SDK's default ratio (0.2) left it one poller in five. Notifications, which nearly all
    end in their first task, get more."""
    default = Settings(_env_file=None)  # type: ignore[call-arg]
    tuned = Settings(_env_file=None, orders_nonsticky_poll_ratio=0.5)  # type: ignore[call-arg]

    assert {
        queue: worker_options(default, queue)["nonsticky_to_sticky_poll_ratio"]
        for queue in ("orders", "payments", "notifications")
    } == {"orders": 0.6, "payments": 0.6, "notifications": 0.8}
    assert worker_options(tuned, "orders")["nonsticky_to_sticky_poll_ratio"] == 0.5
