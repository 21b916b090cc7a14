"""The production shape: docker-compose.yml, the Dockerfile, .env.example and the production settings."""

import re
import secrets
import shlex
from pathlib import Path

import pytest
import yaml
from django.conf import settings

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SERVICES = ["web", "worker", "beat", "db", "redis"]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "servicedesk.settings.production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "desk.example.com",
    "DATABASE_URL": "postgres://servicedesk:s3cret@db:5432/servicedesk",
    "REDIS_URL": "redis://redis:6379/0",
}


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


def _command(service) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _module_path(dotted: str) -> Path:
    return BASE_DIR.joinpath(*dotted.split("."))


@pytest.mark.parametrize("name", SERVICES)
def test_compose_service_exists_with_a_healthcheck(compose, name):
    service = compose["services"][name]

    test = service["healthcheck"]["test"]
    assert test and test != ["NONE"] and not service["healthcheck"].get("disable")


def test_web_runs_gunicorn_on_the_projects_wsgi_application(compose):
    command = _command(compose["services"]["web"])

    assert command[0] == "gunicorn"
    assert "servicedesk.wsgi" in command
    assert _module_path("servicedesk.wsgi").with_suffix(".py").is_file()


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_worker_and_beat_run_celery_on_the_projects_app(compose, name):
    command = _command(compose["services"][name])

    assert command[:3] == ["celery", "-A", "servicedesk"]
    assert name in command
    assert _module_path("servicedesk.celery").with_suffix(".py").is_file()


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_app_services_build_the_dockerfile_run_production_settings_and_wait_for_their_backends(compose, name):
    service = compose["services"][name]

    assert service["build"] in (".", {"context": "."})
    assert (BASE_DIR / "Dockerfile").is_file()
    assert service["environment"]["DJANGO_SETTINGS_MODULE"] == "servicedesk.settings.production"
    assert _module_path("servicedesk.settings.production").with_suffix(".py").is_file()
    assert service["env_file"] == ".env"
    depends_on = service["depends_on"]
    assert depends_on["db"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"


def test_migrations_run_once_before_the_app_starts(compose):
    migrate = compose["services"]["migrate"]

    assert _command(migrate)[-3:] == ["manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"


def test_backing_services_are_postgresql_15_and_redis_7(compose):
    assert compose["services"]["db"]["image"] == "postgres:15"
    assert compose["services"]["redis"]["image"] == "redis:7"


def test_the_image_copies_every_local_app_and_collects_static_files_with_production_settings():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    copied = {
        source.rstrip("/")
        for line in dockerfile.splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    }
    local_apps = {app.split(".")[0] for app in settings.INSTALLED_APPS if (BASE_DIR / app.split(".")[0]).is_dir()}

    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.MULTILINE)
    assert "requirements.lock" in copied and "pip install -r requirements.lock" in dockerfile
    assert local_apps | {"servicedesk", "templates", "static", "manage.py"} <= copied
    assert "manage.py collectstatic --noinput" in dockerfile
    assert "DJANGO_SETTINGS_MODULE=servicedesk.settings.production" in dockerfile


def test_env_example_lists_every_variable_the_settings_read():
    read = set()
    for path in (BASE_DIR / "servicedesk" / "settings").glob("*.py"):
        read |= set(re.findall(r"\benv(?:\.\w+)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']", path.read_text()))
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (BASE_DIR / ".env.example").read_text(), re.MULTILINE))

    assert read, "found no env(...) reads: has the settings' env reader been renamed?"
    assert read - listed == set()


def test_production_settings_pass_check_deploy_without_warnings(run_fresh_python):
    result = run_fresh_python("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"])
def test_production_settings_refuse_to_start_without_a_required_variable(run_fresh_python, missing):
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != missing}

    result = run_fresh_python("manage.py", "check", env=env)

    assert result.returncode != 0
    assert f"Set the {missing} environment variable" in result.stderr


def test_production_settings_ignore_debug_from_the_environment(run_fresh_python):
    code = "from django.conf import settings; print(settings.DEBUG)"

    result = run_fresh_python("-c", code, env={**PRODUCTION_ENV, "DEBUG": "true"})

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.browser
def test_chromium_renders_a_page_served_by_the_live_server(live_server, page):
    # The browser-test plumbing itself: Debian's Chromium, launched headless, reaches live_server.
    response = page.goto(f"{live_server.url}/static/css/app.css")

    assert response is not None and response.status == 200
    assert "text/css" in response.headers["content-type"]
