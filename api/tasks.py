from celery import shared_task

from . import services


@shared_task(name="api.expire_idempotency_keys")
def expire_idempotency_keys():
    """Idempotent: deleting what is already gone deletes nothing."""
    return services.idempotency_keys_expire()
