from celery import shared_task

from . import services


@shared_task(name="slas.sweep_clocks")
def sweep_clocks():
    """Periodic: refresh clocks that reached a threshold or ran out since the last event (idempotent)."""
    return len(services.sla_clocks_sweep())
