from celery import shared_task

from . import services


# Below the global limits: one e-mail needs at most the SMTP timeout (EMAIL_TIMEOUT, 30 s).
@shared_task(name="stakeholders.deliver_notification", soft_time_limit=60, time_limit=90)
def deliver_notification(notification_id):
    """Send one e-mail notification (idempotent: a second run finds it sent or claimed)."""
    return services.notification_deliver(notification_id=notification_id)
