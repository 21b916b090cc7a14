"""Configuration comes from the environment: each case imports the settings in a fresh interpreter."""

import json
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent.parent

PROBE = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = sys.argv[1]
from django.conf import settings
print(json.dumps({name: getattr(settings, name, None) for name in sys.argv[2:]}, default=str))
"""


@pytest.fixture
def settings_under(run_fresh_python):
    """Import a settings module under exactly `env` (and `dotenv`) and return the named settings."""

    def probe(env, *names, module="servicedesk.settings.local", dotenv=None):
        result = run_fresh_python("-c", PROBE, module, *names, env=env, dotenv=dotenv)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    return probe


def test_without_redis_celery_uses_the_embedded_filesystem_broker(settings_under, tmp_path):
    broker_dir = tmp_path / "broker"

    values = settings_under(
        {"CELERY_BROKER_DIR": str(broker_dir)}, "CELERY_BROKER_URL", "CELERY_BROKER_TRANSPORT_OPTIONS"
    )

    assert values["CELERY_BROKER_URL"] == "filesystem://"
    options = values["CELERY_BROKER_TRANSPORT_OPTIONS"]
    # Producer and consumer read and write the same folder.
    assert options["data_folder_in"] == options["data_folder_out"] == str(broker_dir / "queue")
    assert options["processed_folder"] == str(broker_dir / "processed")
    assert options["control_folder"] == str(broker_dir / "control")


def test_the_embedded_broker_folders_are_created_when_celery_is_configured(run_fresh_python, tmp_path):
    broker_dir = tmp_path / "broker"
    code = "from servicedesk.celery import app; print(app.conf.broker_url)"

    result = run_fresh_python("-c", code, env={"CELERY_BROKER_DIR": str(broker_dir)})

    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in broker_dir.iterdir()) == ["control", "processed", "queue"]


def test_redis_url_makes_redis_the_broker_with_a_visibility_timeout_longer_than_any_task(settings_under):
    values = settings_under(
        {"REDIS_URL": "redis://cache.internal:6379/2"},
        "CELERY_BROKER_URL",
        "CELERY_BROKER_TRANSPORT_OPTIONS",
        "CELERY_TASK_TIME_LIMIT",
    )

    assert values["CELERY_BROKER_URL"] == "redis://cache.internal:6379/2"
    options = values["CELERY_BROKER_TRANSPORT_OPTIONS"]
    assert options == {"visibility_timeout": 600, "socket_connect_timeout": 3, "socket_timeout": 10}
    # acks_late: a message comes back after the visibility timeout, so no task may run longer
    assert values["CELERY_TASK_TIME_LIMIT"] < options["visibility_timeout"]


def test_celery_is_set_for_reliability(settings_under):
    names = [
        "CELERY_TASK_ACKS_LATE",
        "CELERY_TASK_REJECT_ON_WORKER_LOST",
        "CELERY_WORKER_PREFETCH_MULTIPLIER",
        "CELERY_TASK_SERIALIZER",
        "CELERY_ACCEPT_CONTENT",
        "CELERY_TASK_SOFT_TIME_LIMIT",
        "CELERY_TASK_TIME_LIMIT",
    ]

    values = settings_under({"REDIS_URL": "redis://cache.internal:6379/2"}, *names)

    assert values == {
        "CELERY_TASK_ACKS_LATE": True,
        "CELERY_TASK_REJECT_ON_WORKER_LOST": True,
        "CELERY_WORKER_PREFETCH_MULTIPLIER": 1,
        "CELERY_TASK_SERIALIZER": "json",
        "CELERY_ACCEPT_CONTENT": ["json"],
        "CELERY_TASK_SOFT_TIME_LIMIT": 240,
        "CELERY_TASK_TIME_LIMIT": 300,
    }


def test_celery_broker_url_wins_over_redis_url(settings_under):
    values = settings_under(
        {"REDIS_URL": "redis://cache.internal:6379/2", "CELERY_BROKER_URL": "redis://queue.internal:6379/0"},
        "CELERY_BROKER_URL",
        "REDIS_URL",
    )

    assert values == {
        "CELERY_BROKER_URL": "redis://queue.internal:6379/0",
        "REDIS_URL": "redis://cache.internal:6379/2",
    }


def test_time_zone_is_read_from_the_environment_with_berlin_by_default(settings_under):
    assert settings_under({"TIME_ZONE": "America/New_York"}, "TIME_ZONE") == {"TIME_ZONE": "America/New_York"}
    assert settings_under({}, "TIME_ZONE") == {"TIME_ZONE": "Europe/Berlin"}


def test_database_url_selects_postgresql(settings_under):
    database = settings_under({"DATABASE_URL": "postgres://desk:s3cret@db.internal:5433/desk"}, "DATABASES")[
        "DATABASES"
    ]["default"]

    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["NAME"], database["USER"], database["PASSWORD"]) == ("desk", "desk", "s3cret")
    assert (database["HOST"], str(database["PORT"])) == ("db.internal", "5433")


def test_without_database_url_the_database_is_sqlite_under_var(settings_under):
    database = settings_under({}, "DATABASES")["DATABASES"]["default"]

    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == str(BASE_DIR / "var" / "servicedesk.sqlite3")


def test_product_rules_are_read_as_integers(settings_under):
    values = settings_under(
        {"REOPEN_WINDOW_DAYS": "21", "ATTACHMENT_MAX_BYTES": "1048576"}, "REOPEN_WINDOW_DAYS", "ATTACHMENT_MAX_BYTES"
    )

    assert values == {"REOPEN_WINDOW_DAYS": 21, "ATTACHMENT_MAX_BYTES": 1048576}


def test_a_dotenv_file_is_read_but_the_environment_wins(settings_under, tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("TIME_ZONE=Asia/Tokyo\nREOPEN_WINDOW_DAYS=30\n")

    values = settings_under({"REOPEN_WINDOW_DAYS": "7"}, "TIME_ZONE", "REOPEN_WINDOW_DAYS", dotenv=dotenv)

    assert values == {"TIME_ZONE": "Asia/Tokyo", "REOPEN_WINDOW_DAYS": 7}


def test_local_settings_default_to_debug_with_a_development_key(settings_under):
    values = settings_under({}, "DEBUG", "SECRET_KEY")

    assert values["DEBUG"] is True
    assert values["SECRET_KEY"].startswith("django-insecure-")


@pytest.mark.parametrize(("value", "expected"), [(None, False), ("0", False), ("1", True), ("true", True)])
def test_test_settings_require_services_only_when_asked(settings_under, value, expected):
    env = {} if value is None else {"SERVICEDESK_REQUIRE_SERVICES": value}

    assert settings_under(env, "REQUIRE_SERVICES", module="servicedesk.settings.test") == {"REQUIRE_SERVICES": expected}


def test_test_settings_keep_sqlite_in_a_file_that_a_worker_can_share(settings_under):
    database = settings_under({}, "DATABASES", module="servicedesk.settings.test")["DATABASES"]["default"]

    assert database["TEST"]["NAME"] == str(BASE_DIR / "var" / "test-servicedesk.sqlite3")


def test_test_settings_give_the_suite_its_own_queue_and_broker_folder(settings_under):
    values = settings_under(
        {}, "CELERY_TASK_DEFAULT_QUEUE", "CELERY_BROKER_TRANSPORT_OPTIONS", module="servicedesk.settings.test"
    )

    assert values["CELERY_TASK_DEFAULT_QUEUE"] == "servicedesk-tests"
    queue_folder = BASE_DIR / "var" / "test-celery-broker" / "queue"
    assert values["CELERY_BROKER_TRANSPORT_OPTIONS"]["data_folder_in"] == str(queue_folder)


def test_every_beat_entry_names_a_task_the_worker_has():
    # A typo in a task name would only show as a beat entry that never runs.
    from django.conf import settings

    from servicedesk.celery import app

    app.loader.import_default_modules()
    missing = {
        name: entry["task"] for name, entry in settings.CELERY_BEAT_SCHEDULE.items() if entry["task"] not in app.tasks
    }
    assert not missing
    assert "api.expire_idempotency_keys" in {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
