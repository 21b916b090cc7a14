"""Test infrastructure: Debian's Chromium for Playwright, required services in CI, a real Celery worker."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

pytest_plugins = ["tests.fixtures"]

# Playwright's sync API runs an event loop in the test thread; Django would refuse database access.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

BASE_DIR = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WORKER_START_TIMEOUT = 60  # seconds; a cold worker imports Django and every app


def _services_required():
    from django.conf import settings

    return getattr(settings, "REQUIRE_SERVICES", False)


def require_service(name: str, available: bool, why: str) -> None:
    """Skip the calling test when `name` is unavailable; fail instead when the run requires services (CI)."""
    __tracebackhide__ = True  # report the skip or failure at the test, not here
    if available:
        return
    message = f"{name} is not available: {why}"
    if _services_required():
        pytest.fail(f"{message} (SERVICEDESK_REQUIRE_SERVICES is set, so this is a failure, not a skip)")
    pytest.skip(message)


@pytest.fixture(name="require_service")
def require_service_fixture():
    """The `require_service(name, available, why)` helper, for tests that prefer a fixture to an import."""
    return require_service


def _redis_answers(url: str) -> tuple[bool, str]:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        try:
            return bool(client.ping()), "PONG"
        finally:
            client.close()
    except Exception as error:  # any failure means "not there"; the message says which
        return False, f"{type(error).__name__}: {error}"


def pytest_sessionstart(session):
    """When the run requires services (CI), refuse to start on SQLite or without a Redis that answers."""
    if not _services_required():
        return
    from django.conf import settings

    problems = []
    engine = settings.DATABASES["default"]["ENGINE"]
    if not engine.endswith("postgresql"):
        problems.append(f"the test database must be PostgreSQL (set DATABASE_URL), not {engine}")
    redis_url = getattr(settings, "REDIS_URL", "")
    if not redis_url:
        problems.append("REDIS_URL is not set")
    else:
        answers, detail = _redis_answers(redis_url)
        if not answers:
            problems.append(f"Redis at {redis_url} does not answer PING ({detail})")
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        problems.append(f"the Celery broker must be Redis, not {settings.CELERY_BROKER_URL}")
    if problems:
        raise pytest.UsageError(
            "SERVICEDESK_REQUIRE_SERVICES is set but the services are not there:\n  - " + "\n  - ".join(problems)
        )


def _flushes_the_database(item) -> bool:
    from django.test import TestCase, TransactionTestCase

    test_class = getattr(item, "cls", None)
    if test_class is not None and issubclass(test_class, TransactionTestCase):
        return not issubclass(test_class, TestCase)
    marker = item.get_closest_marker("django_db")
    if marker is not None:
        transaction = marker.kwargs.get("transaction", marker.args[0] if marker.args else False)
        if transaction or marker.kwargs.get("reset_sequences"):
            return True
    fixtures = getattr(item, "fixturenames", ())
    return "transactional_db" in fixtures or "live_server" in fixtures


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Run transactional tests (live_server, a real worker) after all the others, whatever else reordered.

    Each ends by flushing the database, which also empties what data migrations wrote (the roles,
    reference data). pytest-django sorts them last, but pytest then groups the tests that share a
    session-scoped parameter (Playwright's browser_name) and can pull them back among the others.
    """
    items.sort(key=_flushes_the_database)  # stable: the order within each group is kept


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Launch Debian's Chromium; never download a browser. Missing: skip, or fail in CI."""
    require_service("Chromium", CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "headless": True, "args": CHROMIUM_ARGS}


# Runs before the project's code in a fresh interpreter: the developer's ./.env must not leak into a
# test of environment-driven configuration, so read_env reads the file the test names, or nothing.
_FRESH_PYTHON_PRELUDE = """
import os, runpy, sys
import environ
_read_env = environ.Env.read_env.__func__
def _read_chosen_env_file(cls, env_file=None, **kwargs):
    chosen = os.environ.get("SERVICEDESK_TEST_DOTENV")
    if chosen:
        _read_env(cls, chosen, **kwargs)
environ.Env.read_env = classmethod(_read_chosen_env_file)
sys.argv = sys.argv[1:]
if sys.argv[0] == "-c":
    sys.argv = sys.argv[1:]
    exec(compile(sys.argv[0], "<probe>", "exec"), {"__name__": "__main__"})
else:
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_fresh_python(*args, env, dotenv=None, timeout=120) -> subprocess.CompletedProcess:
    """Run `manage.py ...` or `-c code ...` in a new interpreter with exactly `env` (plus PATH/HOME).

    Nothing leaks in from the test process's environment or the project's .env; `dotenv` names a
    .env file to read instead.
    """
    clean_env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "SYSTEMROOT") if key in os.environ}
    clean_env.update(env)
    if dotenv is not None:
        clean_env["SERVICEDESK_TEST_DOTENV"] = str(dotenv)
    return subprocess.run(
        [sys.executable, "-c", _FRESH_PYTHON_PRELUDE, *args],
        cwd=BASE_DIR,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(name="run_fresh_python")
def run_fresh_python_fixture():
    """The `run_fresh_python(*args, env=..., dotenv=None)` helper: settings imported under a chosen environment."""
    return run_fresh_python


def _database_url(settings_dict) -> str:
    """A DATABASE_URL for the database pytest-django set up, in the form django-environ reads."""
    engine = settings_dict["ENGINE"]
    name = str(settings_dict["NAME"])
    if engine.endswith("sqlite3"):
        if name == ":memory:" or name.startswith("file:"):
            pytest.fail("a Celery worker cannot share an in-memory SQLite database; give the test database a file")
        return f"sqlite:///{Path(name).resolve()}"
    if engine.endswith("postgresql"):
        user = quote(settings_dict.get("USER") or "", safe="")
        password = quote(settings_dict.get("PASSWORD") or "", safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "localhost"
        port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
        return f"postgres://{credentials}{host}{port}/{quote(name, safe='')}"
    pytest.fail(f"no DATABASE_URL form for {engine}")


class CeleryWorkerProcess:
    """A `celery worker` subprocess whose log (and e-mails, in `mail_dir`) the tests can read."""

    def __init__(self, process: subprocess.Popen, log_path: Path, database_url: str, mail_dir: Path | None = None):
        self.process = process
        self.log_path = log_path
        self.database_url = database_url
        self.mail_dir = mail_dir

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines=40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_for_log(self, text: str, timeout: float = 30) -> str:
        """Wait until `text` appears in the log; return the first line containing it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log().splitlines():
                if text in line:
                    return line
            if self.process.poll() is not None:
                pytest.fail(f"the Celery worker exited ({self.process.returncode}):\n{self.log_tail()}")
            time.sleep(0.2)
        pytest.fail(f"{text!r} did not appear in the Celery worker's log within {timeout} s:\n{self.log_tail()}")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()  # warm shutdown
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup):
    """A real Celery worker on the test database and the test broker, for the whole session.

    Tests that use it need `django_db(transaction=True)`: the worker is another process and only
    sees committed rows.
    """
    from django.conf import settings
    from django.db import connections

    # After django_db_setup, the connection's NAME is the test database's (test_<name>, or TEST NAME).
    test_database = connections["default"].settings_dict
    name, test_name = str(test_database["NAME"]), test_database.get("TEST", {}).get("NAME")
    if not (name == str(test_name) if test_name else name.startswith("test_")):
        pytest.fail(f"refusing to point a Celery worker at {name}: it is not the test database")
    database_url = _database_url(test_database)

    log_path = BASE_DIR / "var" / "test-celery-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    mail_dir = BASE_DIR / "var" / "test-celery-mail"
    shutil.rmtree(mail_dir, ignore_errors=True)
    mail_dir.mkdir()
    env = {
        **os.environ,
        # The same settings as this process (servicedesk.settings.test), so both use one broker and queue.
        "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
        "DATABASE_URL": database_url,
        "PYTHONUNBUFFERED": "1",
        "SERVICEDESK_TEST_EMAIL_DIR": str(mail_dir),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "servicedesk",
        "worker",
        "--pool=solo",
        "--loglevel=info",
        "--hostname=servicedesk-tests@%h",
        "--purge",  # drop messages an interrupted earlier run left in the suite's queue
        "--without-gossip",
        "--without-mingle",
    ]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = CeleryWorkerProcess(process, log_path, database_url, mail_dir)
    try:
        worker.wait_for_log("ready.", timeout=WORKER_START_TIMEOUT)
        yield worker
    finally:
        # Before django_db_setup's teardown: PostgreSQL will not drop a database the worker is connected to.
        worker.stop()
