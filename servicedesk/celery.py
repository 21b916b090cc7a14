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
