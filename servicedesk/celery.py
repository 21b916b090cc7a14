import functools
import logging
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "servicedesk.settings.local")

app = Celery("servicedesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _create_embedded_broker_folders(sender, **kwargs):
    # kombu's filesystem transport expects its folders to exist; producer and worker share them.
    for key, folder in sender.conf.broker_transport_options.items():
        if key.endswith("_folder") or key.startswith("data_folder"):
            os.makedirs(folder, exist_ok=True)


def publish_on_commit(task, ids, *, what):
    """Enqueue `task(id)` for each id once the current transaction commits (a worker must never look for
    a row that is not committed yet, and the web request that wrote it never waits for the work)."""
    from django.db import transaction

    if ids:
        transaction.on_commit(functools.partial(_publish, task, tuple(ids), what))


def _publish(task, ids, what):
    published = 0
    try:
        # One producer (one broker connection) for the whole batch, not one per message.
        with task.app.producer_or_acquire() as producer:
            for row_id in ids:
                task.apply_async((row_id,), producer=producer)
                published += 1
    except Exception:
        # The broker is unreachable (any kombu/redis error). The event that wrote these rows has
        # committed and must not fail now: the rows stay outstanding and a beat sweep enqueues them
        # again once the broker answers.
        missing = len(ids) - published
        logging.getLogger(__name__).warning(
            "Could not enqueue %d of %d %s; the sweep retries them.", missing, len(ids), what, exc_info=True
        )
