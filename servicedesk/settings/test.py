"""The test suite: PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set, else SQLite."""

import tempfile
import uuid
from pathlib import Path

from .base import *  # noqa: F403
from .base import CELERY_BROKER_URL, DATABASES, STATIC_ROOT, VAR_DIR, env

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-for-production-use-0123456789"
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; tests only
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="servicedesk-test-media-"))
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# A real Celery worker started by the suite is another process: it writes its e-mails into this folder,
# where the tests read them (Django's file backend), instead of into a memory the tests cannot see.
TEST_EMAIL_DIR = env("SERVICEDESK_TEST_EMAIL_DIR", default="")
if TEST_EMAIL_DIR:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = TEST_EMAIL_DIR

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not :memory:, so that a real Celery worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-servicedesk.sqlite3")}

# Tests that would skip for a missing service fail instead when this is set (CI sets it).
REQUIRE_SERVICES = env.bool("SERVICEDESK_REQUIRE_SERVICES", default=False)

# The suite's own Celery queue and embedded-broker folder: the worker the tests start and a developer's
# `make run` worker never take each other's tasks, whether they share a Redis or a laptop's var/.
CELERY_TASK_DEFAULT_QUEUE = "servicedesk-tests"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_DIR = VAR_DIR / "test-celery-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,  # defined by base.py for the filesystem transport
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
    }

# Each run counts its own rate limits in a shared Redis: no run sees another's (or a developer's) counters.
if "CACHES" in globals():
    CACHES["default"]["KEY_PREFIX"] = f"servicedesk-test-{uuid.uuid4().hex}"

# WhiteNoise looks for STATIC_ROOT at start-up; `make test` fills it, a bare pytest run needs it to exist.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
