from celery import shared_task

from . import services


# Below the global limits: one POST takes at most WEBHOOK_TIMEOUT_SECONDS (10 s) to connect and answer;
# the lease (WEBHOOK_LEASE_SECONDS) is longer than this task may run, so nobody takes over a live claim.
@shared_task(name="webhooks.deliver", soft_time_limit=30, time_limit=45)
def deliver_webhook(delivery_id):
    """POST one webhook delivery (idempotent: a second run finds it delivered or claimed and sends nothing)."""
    return services.webhook_delivery_deliver(delivery_id=delivery_id)


@shared_task(name="webhooks.sweep_deliveries")
def sweep_deliveries():
    """Periodic: enqueue the deliveries whose back-off ended or whose task was lost (idempotent; returns how many)."""
    return len(services.webhook_deliveries_sweep())
