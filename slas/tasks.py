from celery import shared_task

from stakeholders.services import notifications_requeue

from . import services, snapshots


@shared_task(name="slas.sweep_clocks")
def sweep_clocks():
    """Periodic, every minute: clocks and reminders that reached a step are refreshed and escalated, and
    e-mails whose delivery task may be lost are enqueued again (idempotent; returns the clock crossings)."""
    crossings = services.sla_clocks_sweep()
    services.sla_reminders_sweep()
    notifications_requeue()
    return len(crossings)


@shared_task(name="slas.refresh_dashboard_snapshots")
def refresh_dashboard_snapshots():
    """Periodic, every SLA_DASHBOARD_SNAPSHOT_SECONDS: the dashboards' preset views get their period
    figures recomputed (idempotent; returns the snapshots written)."""
    return snapshots.dashboard_snapshots_refresh()
