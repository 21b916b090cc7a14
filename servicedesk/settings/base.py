"""Settings shared by every environment. All environment reads happen here, through `env`."""

from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"  # git-ignored: SQLite file, embedded broker, uploads in development
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from static: no CDN
    "stakeholders",
    "requests_app",
    "slas",
    "webhooks",
    "api",
]

MIDDLEWARE = [
    "servicedesk.health.HealthCheckMiddleware",  # first: answers /healthz/ for any host, over HTTP
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "stakeholders.middleware.TimeZoneMiddleware",  # after sessions: times in the viewer's zone
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, so that a locked-out login is answered before any view runs.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "servicedesk.urls"
WSGI_APPLICATION = "servicedesk.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "stakeholders.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'servicedesk.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Brute-force protection on the login form: 5 failures lock the username+IP pair for 30 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 0.5
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "axes_lockout.html"

LANGUAGE_CODE = "en"
# The languages a person can choose on My settings (Profile.language); notices are written in theirs.
# Adding one: see "Languages" in README.md.
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="Europe/Berlin")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# No MEDIA_URL is routed: attachments are only served through a view that checks permission.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Procurement Service Desk <procurement@example.com>")
# An SMTP server that does not answer must not hold a worker longer than a delivery task may run.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
# Links in e-mails are absolute: the address people open the desk at.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

# SQLite ignores an index's INCLUDE columns (PostgreSQL's covering indexes): harmless for the embedded
# default, so its warning would only be noise on every start.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

# --- Celery -------------------------------------------------------------------------------------
# With REDIS_URL (or CELERY_BROKER_URL) set, Celery uses Redis. Without it, kombu's filesystem
# transport gives a real worker and beat with no server at all (the embedded default).
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_DIR = Path(env("CELERY_BROKER_DIR", default=str(VAR_DIR / "celery-broker")))
# The cache holds the API's rate-limit counters, which every web process must share: Redis when there
# is one; otherwise (the embedded default, a single process) Django's in-memory cache.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="servicedesk"),
        }
    }
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # An unacknowledged message (acks_late) goes back to the queue after this long: longer than
        # any task may run (CELERY_TASK_TIME_LIMIT), so a slow task is never run twice at once. A
        # message lost with a killed worker therefore returns only after 10 minutes; the minute
        # sweep re-enqueues e-mails sooner (NOTIFICATION_REQUEUE_AFTER_SECONDS).
        "visibility_timeout": 600,
        # A broker that vanishes must not hang a web request that enqueues (see below).
        "socket_connect_timeout": 3,
        "socket_timeout": 10,
    }
CELERY_RESULT_BACKEND = None  # tasks record their effects in the database, not in results
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task lost with its worker is redelivered; tasks are idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True  # redelivered anyway (acks_late)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a worker holds one message at a time: a crash strands one
CELERY_TASK_SERIALIZER = "json"  # ids only; never pickle
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SOFT_TIME_LIMIT = 240  # the sweep works in batches well within this
CELERY_TASK_TIME_LIMIT = 300  # enforced by the prefork pool (production); below the visibility timeout
# Enqueueing happens after commit in web requests: with the broker down, give up within about a
# second (the outbox keeps the work) instead of retrying for long.
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = env("CELERY_BEAT_SCHEDULE_FILENAME", default=str(VAR_DIR / "celerybeat-schedule"))

# The SLA dashboards' preset views (the manager's dashboard unfiltered for 7, 30 or 90 days, each
# department's scorecard) show period figures recomputed this often (seconds) by the beat task below,
# labelled with their time; a snapshot older than twice this is not shown (the page computes live).
SLA_DASHBOARD_SNAPSHOT_SECONDS = env.int("SLA_DASHBOARD_SNAPSHOT_SECONDS", default=300)

# The beat schedule lives here, and only here.
CELERY_BEAT_SCHEDULE = {
    # Clocks that reached a warning threshold or ran out between events get their stored state (and
    # the request's queue position and SLA flags) refreshed and their escalations sent; reminders of
    # unclaimed requests and pending approvals fire; e-mails whose task was lost are enqueued again.
    # Deadlines live in the database; one entry, every minute.
    "sweep-sla-clocks": {
        "task": "slas.sweep_clocks",
        "schedule": 60.0,
    },
    # The SLA dashboards' period figures for their preset views (slas/snapshots.py): sorting a period's
    # completed cycles for exact medians takes seconds at a million requests, so it runs here, not per view.
    "refresh-dashboard-snapshots": {
        "task": "slas.refresh_dashboard_snapshots",
        "schedule": float(SLA_DASHBOARD_SNAPSHOT_SECONDS or 300),
    },
    # The API's idempotency keys are kept API_IDEMPOTENCY_HOURS; older ones are forgotten hourly.
    "expire-idempotency-keys": {
        "task": "api.expire_idempotency_keys",
        "schedule": crontab(minute=40),
    },
    # Completed requests nobody reopened within the reopen window are closed for good.
    "close-completed-requests": {
        "task": "requests_app.close_completed_requests",
        "schedule": crontab(minute=15),
    },
    # Overdue stakeholder action items remind their owner, and passed service agreement review dates
    # the procurement managers, once per due date (a unique key; e-mails wait for office hours). The
    # dates are days, so every ten minutes is prompt enough and costs two queries when idle.
    "sweep-relation-reminders": {
        "task": "stakeholders.sweep_relation_reminders",
        "schedule": 600.0,
    },
    # Unanswered satisfaction surveys remind their requester once, overdue follow-ups of low scores
    # their owner once per due date (unique keys; e-mails wait for office hours). Two queries idle.
    "sweep-survey-reminders": {
        "task": "stakeholders.sweep_survey_reminders",
        "schedule": 600.0,
    },
    # Relationship survey rounds that are due open, once per department and day, and tell the staff.
    # Rounds are scheduled by the day: hourly is prompt enough; idle it is one query.
    "open-relationship-surveys": {
        "task": "stakeholders.open_relationship_surveys",
        "schedule": 3600.0,
    },
    # Webhook deliveries whose back-off ended (1 min, 5 min, 30 min, 2 h, 12 h), whose task was lost with
    # the broker or a worker, or whose worker died holding them, are enqueued again. Deadlines live in
    # the database (next_attempt_at, lease_until): no task is scheduled for the future. One query idle.
    "sweep-webhook-deliveries": {
        "task": "webhooks.sweep_deliveries",
        "schedule": 60.0,
    },
    # Scheduled digests (stakeholders/digests.py), each once per person and period (a unique key: a
    # second run, or a run beat repeats, sends nothing twice; e-mails wait for office hours). Crontabs
    # are UTC (CELERY_TIMEZONE): 06:30 UTC is early morning at the desk in Europe/Berlin.
    # Monday: each requester with open requests gets their requests, expected dates and questions.
    "weekly-requester-digest": {
        "task": "stakeholders.send_digests",
        "schedule": crontab(minute=30, hour=6, day_of_week="mon"),
        "args": ("weekly_digest",),
    },
    # The 1st of the month: each department head gets last month's scorecard (goals met per metric,
    # requests completed, open and at-risk work, CSAT, open action items).
    "monthly-department-scorecard": {
        "task": "stakeholders.send_digests",
        "schedule": crontab(minute=30, hour=6, day_of_month=1),
        "args": ("department_scorecard",),
    },
    # Monday: the procurement managers get breached and at-risk work now, and the week's low scores
    # and follow-ups (no fairness flags yet: nothing on main computes them).
    "weekly-manager-summary": {
        "task": "stakeholders.send_digests",
        "schedule": crontab(minute=35, hour=6, day_of_week="mon"),
        "args": ("manager_summary",),
    },
}

# --- Product rules --------------------------------------------------------------------------------
PROCUREMENT_BASE_CURRENCY = "EUR"
# A completed request may be reopened by its requester for this many days, then it is closed.
REOPEN_WINDOW_DAYS = env.int("REOPEN_WINDOW_DAYS", default=14)
# A satisfaction rating at or below this (1–5) opens a follow-up for the team lead (0: never).
SURVEY_FOLLOW_UP_AT = env.int("SERVICEDESK_SURVEY_FOLLOW_UP_AT", default=2)
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
ATTACHMENTS_PER_UPLOAD = 5
# E-mail notifications (stakeholders.services): a sending worker holds a row this long (longer than
# the delivery task's time limit); a failed e-mail is retried after 1, 2, 4 … minutes, then failed.
NOTIFICATION_LEASE_SECONDS = env.int("NOTIFICATION_LEASE_SECONDS", default=300)
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=5)
NOTIFICATION_RETRY_BASE_SECONDS = env.int("NOTIFICATION_RETRY_BASE_SECONDS", default=60)
# The sweep enqueues an e-mail again when its last enqueueing is older than this (a lost message).
NOTIFICATION_REQUEUE_AFTER_SECONDS = env.int("NOTIFICATION_REQUEUE_AFTER_SECONDS", default=60)
# Coalescing: an e-mail about a request's event waits this long, and every further notice about the
# same request for the same person within it joins that one e-mail (0: each is sent at once).
NOTIFICATION_COALESCE_SECONDS = env.int("NOTIFICATION_COALESCE_SECONDS", default=120)
# One-click approval links in the approval-waiting notice (requests_app/approval_links.py) work for this
# many seconds (7 days), and only while the request is unchanged and undecided.
APPROVAL_LINK_MAX_AGE = env.int("SERVICEDESK_APPROVAL_LINK_MAX_AGE", default=7 * 24 * 60 * 60)
# Outgoing webhooks (webhooks/services.py): a receiver has this long to connect and answer; a failed
# delivery is tried again after each delay in turn (seconds; the last one repeats), up to the maximum
# number of attempts, then it is `failed`. A sending worker holds a delivery for the lease (longer than
# the delivery task may run); the sweep enqueues an outstanding delivery again after the requeue delay.
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", default=10)
WEBHOOK_RETRY_DELAYS = [
    int(delay) for delay in env.list("WEBHOOK_RETRY_DELAYS", default=["60", "300", "1800", "7200", "43200"])
]
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
WEBHOOK_LEASE_SECONDS = env.int("WEBHOOK_LEASE_SECONDS", default=120)
WEBHOOK_REQUEUE_AFTER_SECONDS = env.int("WEBHOOK_REQUEUE_AFTER_SECONDS", default=60)
# SLA dashboards (slas/dashboard.py): the met % the charts draw as the target line; a department is
# flagged as treated differently when its met % (points) or median time (%) differs from the other
# departments' by more than the margin, and both sides have at least the minimum number of requests.
SLA_DASHBOARD_TARGET_PERCENT = env.int("SLA_DASHBOARD_TARGET_PERCENT", default=90)
SLA_FAIRNESS_MARGIN_PERCENT = env.int("SLA_FAIRNESS_MARGIN_PERCENT", default=10)
SLA_FAIRNESS_MIN_VOLUME = env.int("SLA_FAIRNESS_MIN_VOLUME", default=20)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- REST API (api/) --------------------------------------------------------------------------------
# Tokens first: a call that sends one is that token's; the site's own htmx calls use the session (with
# CSRF). Every error is {"errors": [...]} (api/errors.py). No browsable API: JSON only.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": env("API_RATE_LIMIT", default="600/minute")},
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Procurement Service Desk API",
    "DESCRIPTION": (
        "Procurement requests, their lifecycle, SLA clocks and reference data. Authenticate with "
        "`Authorization: Bearer <token>` (create a token under *My settings*). Every error is "
        '`{"errors": [{"field": ..., "code": ..., "message": ...}]}`.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "requests_app.models.Status",
        "PriorityEnum": "requests_app.models.Priority",
    },
    "SECURITY": [{"tokenAuth": []}, {"cookieAuth": []}],
    # The docs list these groups in this order (api/views.py tags each operation).
    "TAGS": [
        {"name": "Requests", "description": "List, read and file requests; replies, notes and attachments."},
        {"name": "Request lifecycle", "description": "One endpoint per action, as the request page offers it."},
        {"name": "Reference data", "description": "Categories, departments, teams, SLA policies, the catalogue."},
        {"name": "You", "description": "Who you are, and your notifications."},
        {"name": "Dashboard", "description": "The SLA dashboard's figures, for reporting tools."},
    ],
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "displayOperationId": False},
}
# Idempotency keys of POST /api/v1/requests/ are kept this long; a retry after it files again.
API_IDEMPOTENCY_HOURS = env.int("API_IDEMPOTENCY_HOURS", default=24)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
