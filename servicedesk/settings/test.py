"""The test suite: PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set, else SQLite."""

import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import DATABASES, VAR_DIR, env

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

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not :memory:, so that a real Celery worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-servicedesk.sqlite3")}

# Tests that would skip for a missing service fail instead when this is set (CI sets it).
REQUIRE_SERVICES = env.bool("SERVICEDESK_REQUIRE_SERVICES", default=False)
