from celery import shared_task

from . import services


@shared_task(name="requests_app.close_completed_requests")
def close_completed_requests():
    """Periodic: close completed requests whose reopen window has passed (idempotent)."""
    return services.completed_requests_close()
