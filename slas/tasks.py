from celery import shared_task

from stakeholders.services import notifications_requeue

from . import services


@shared_task(name="slas.sweep_clocks")
def sweep_clocks():
    """Periodic, every minute: clocks and reminders that reached a step are refreshed and escalated, and
    e-mails whose delivery task may be lost are enqueued again (idempotent; returns the clock crossings)."""
    crossings = services.sla_clocks_sweep()
    services.sla_reminders_sweep()
    notifications_requeue()
    return len(crossings)
