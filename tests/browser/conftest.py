"""Browser tests: Debian's Chromium through Playwright, against live_server.

The root conftest (tests/conftest.py) is the owner of the Chromium launch arguments. This copy makes
the browser tests runnable on their own until that lands, and is harmless after: it layers the same
values over whatever the root fixture returns.
"""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; Django would refuse database access.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

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


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, never a downloaded browser (overrides, and builds on, any outer definition)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium); browser tests must run, not skip")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "headless": True, "args": CHROMIUM_ARGS}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Put transactional tests (live_server, these browser tests) after the ordinary database tests again.

    pytest-django sorts them last (tryfirst), but pytest then regroups tests by parametrised
    session fixtures, and pytest-playwright parametrises `browser_name`: the browser tests land in
    the middle of the run, and their flush wipes what the data migrations created (role groups,
    categories, currencies) for every database test after them. Re-applying pytest-django's stable
    ordering last restores Django's order; it does not move tests within each group.
    """
    from pytest_django.plugin import pytest_collection_modifyitems as django_order

    django_order(items)
